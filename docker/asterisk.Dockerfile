# Asterisk 22 for the IVR engine: the same Debian sid packages and the same
# asterisk_conf/ as the sandbox of `ivr sandbox up` (see asterisk_conf/README.md).
# Its configuration binds to 127.0.0.1, so docker-compose.yml runs it on the host network.
FROM debian:sid-slim

# sid's Release file can read as expired on mirrors: do not let that stop the build.
RUN printf 'APT::Install-Recommends "false";\nAcquire::Check-Valid-Until "false";\n' \
        > /etc/apt/apt.conf.d/90ivr \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        asterisk asterisk-modules asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm \
    && rm -rf /var/lib/apt/lists/*

# The project's configuration replaces the packaged one, as the sandbox's bind mount does.
RUN rm -rf /etc/asterisk
COPY asterisk_conf/ /etc/asterisk/

# The apology sounds (sounds/en is a symlink in Debian: cp follows it), the prompt cache
# the engine shares (same path on both sides) and the control socket's directory.
RUN for dir in /etc/asterisk/sounds/*/; do \
        lang="$(basename "$dir")"; \
        mkdir -p "/usr/share/asterisk/sounds/$lang/" \
        && cp "$dir"*.wav "/usr/share/asterisk/sounds/$lang/"; \
    done \
    && mkdir -p /var/cache/ivr/prompts /var/run/asterisk

# As in the sandbox, Asterisk runs as root (no -U): the container is its boundary.
CMD ["/usr/sbin/asterisk", "-f", "-n"]
