# cnai images, two targets from one file:
#
#   docker build -t cnai .                            control plane + controllers (default: the last stage)
#   docker build --target serving -t cnai-serving .   model server: adds the serving and ONNX extras and
#                                                     scikit-learn, so MLflow models of those flavours load
#
# Both run as the unprivileged user 10001 from a virtual environment in /opt/venv; the final stages
# hold no compilers or build tools. `python3 -m venv` works on the official python image (python at
# /usr/local/bin) and on a Debian base made with debootstrap (python at /usr/bin), which is what
# `make image` builds on where no registry is reachable (scripts/containers.sh).
#
# No HEALTHCHECK: the OCI image format that podman builds by default drops it, and Kubernetes
# ignores it; orchestrators probe the HTTP routes instead (control plane: GET /health; model
# server: GET /v2/health/live and /v2/health/ready). deploy/compose.yaml declares its own checks.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS python
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

# ---- build stages: dependencies first (layers that survive source edits), then cnai's wheel ----
FROM python AS deps
WORKDIR /src
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir --upgrade "pip>=24" "wheel>=0.43"
# An empty package with the real pyproject.toml installs every dependency of the chosen extras;
# only pyproject.toml is copied, so an edit elsewhere (README, src) keeps these layers cached.
COPY pyproject.toml ./
RUN mkdir -p src/cnai && touch src/cnai/__init__.py README.md \
    && pip install --no-cache-dir "./[postgres,s3,kafka,monitoring,otel]"

# The model server's extras on top (the control plane's layers are shared).
FROM deps AS deps-serving
RUN pip install --no-cache-dir "./[serving,onnx]" "scikit-learn>=1.5"

FROM python AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /tmp/build \
    && /tmp/build/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM deps AS venv-cnai
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-deps --force-reinstall /wheels/*.whl

FROM deps-serving AS venv-serving
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-deps --force-reinstall /wheels/*.whl

# ---- the runtime user and home, shared by both targets ----
FROM python AS runtime
RUN groupadd --system --gid 10001 cnai \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/cnai --create-home --shell /usr/sbin/nologin cnai \
    && mkdir -p /var/lib/cnai \
    && chown 10001:10001 /var/lib/cnai
# CNAI_HOME holds the embedded defaults (SQLite, local artifacts, the event log) and downloaded
# models; mount a volume here, or point CNAI_STORE / CNAI_ARTIFACTS at PostgreSQL and S3.
ENV CNAI_HOME=/var/lib/cnai \
    HOME=/home/cnai
WORKDIR /home/cnai
VOLUME ["/var/lib/cnai"]

# ---- model server: cnai serve (8081) ----
FROM runtime AS serving
COPY --from=venv-serving /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8081
ENTRYPOINT ["cnai"]
CMD ["serve", "--help"]

# ---- control plane and controllers: cnai server / cnai up (8080); the default target ----
FROM runtime AS cnai
COPY --from=venv-cnai /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["cnai"]
CMD ["server", "--help"]
