# policybot in a container: the bot (long polling, or a webhook with /healthz when
# TELEGRAM_WEBHOOK_URL is set). Knowledge, the query log and the index cache are volumes:
#   docker build -t policybot .
#   docker run --env-file .env -v "$PWD/knowledge:/knowledge:ro" -v policybot-data:/data \
#              -v policybot-cache:/cache -p 127.0.0.1:8443:8443 policybot
# The staff page is the same image: command ["python", "-m", "policybot", "staff-web", ...]
# (see compose.yaml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY bot.py pyproject.toml ./
COPY policybot/ policybot/
COPY staff/ staff/
# the shipped knowledge, for a first run without a mounted /knowledge
COPY knowledge/ knowledge/

# a user of its own; the log and the cache are its only writable places
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin policybot \
    && mkdir -p /data /cache /knowledge \
    && chown policybot:policybot /data /cache \
    && chmod 0700 /data /cache
USER policybot

ENV POLICYBOT_KNOWLEDGE_DIR=/knowledge \
    POLICYBOT_DB=/data/policybot.sqlite3 \
    POLICYBOT_CACHE_DIR=/cache \
    POLICYBOT_LISTEN=0.0.0.0:8443
VOLUME ["/data", "/cache"]
EXPOSE 8443

# In webhook mode the load balancer's check: the knowledge loaded and the log writable.
# Long polling has no server, so there is nothing to check (healthy while running).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD if [ -z "$TELEGRAM_WEBHOOK_URL" ]; then exit 0; fi; \
        python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + '$POLICYBOT_LISTEN'.rsplit(':', 1)[1] + '/healthz', timeout=4).status == 200 else 1)"

CMD ["python", "bot.py"]
