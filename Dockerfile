# One image for every service of the pipeline; the command picks the role (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY apim ./apim
COPY ingest ./ingest
COPY processors ./processors
COPY warehouse ./warehouse
COPY dashboards ./dashboards
RUN pip install --no-cache-dir . && useradd --create-home apim
USER apim
ENV APIM_MODE=production APIM_DATA_DIR=/home/apim/data
ENTRYPOINT ["apim"]
