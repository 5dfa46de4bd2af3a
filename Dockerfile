# arledger: one image for the migration, the worker, beat, the HTTP ingress and Flower.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY tasks ./tasks
COPY workers ./workers
COPY config ./config
RUN pip install . && useradd --create-home --uid 10001 arledger
USER arledger
WORKDIR /home/arledger
EXPOSE 8000 5555
CMD ["arledger", "--help"]
