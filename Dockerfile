# One image for every role of the fleet: worker, Flower, producer (and the local Azure).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# dependencies first, pinned, so code changes do not reinstall them
COPY pyproject.toml constraints.txt README.md ./
COPY config ./config
COPY diskferry ./diskferry
COPY tasks ./tasks
COPY producer ./producer
COPY emulator ./emulator
RUN pip install --no-cache-dir -c constraints.txt ".[emulator]" \
    && useradd --create-home --uid 10001 diskferry
COPY docker/entrypoint.sh /usr/local/bin/diskferry-entrypoint

USER diskferry
ENTRYPOINT ["diskferry-entrypoint"]
CMD ["diskferry", "--help"]
