# Foundation image: everything below builds on it.
ARG ROOT_IMAGE=busybox:1.36
FROM ${ROOT_IMAGE}
ARG PYTHON_VERSION=3.11
ENV PYTHONUNBUFFERED=1 PYTHON_VERSION=${PYTHON_VERSION}
# apt-style: the package cache survives between builds in a shared cache mount.
RUN --mount=type=cache,id=apt,target=/var/cache/apt,sharing=locked \
    mkdir -p /opt/venv /var/cache/apt && \
    echo "python ${PYTHON_VERSION}" > /opt/venv/python.txt
COPY requirements/base.txt /opt/requirements/base.txt
# pip-style: one pip cache shared by every image (id=pip).
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/base.txt /root/.cache/pip/base.txt && \
    cat /opt/requirements/base.txt >> /opt/venv/installed.txt
