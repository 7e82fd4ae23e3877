# The IVR engine (`ivr serve`): FastAGI, AMI client, web front end, metrics.
# espeak-ng and sox synthesise prompts into /var/cache/ivr/prompts, a volume shared with
# the asterisk service at the same path (docker-compose.yml).
FROM python:3.11-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine/ engine/
COPY visual_ivr/ visual_ivr/
RUN pip install --no-cache-dir .
COPY flows/ flows/

RUN mkdir -p /var/cache/ivr/prompts
CMD ["ivr", "serve", "--flows", "/app/flows"]
