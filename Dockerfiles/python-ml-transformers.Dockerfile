FROM 127.0.0.1:5000/demo/python-ml:latest
COPY requirements/ml-transformers.txt /opt/requirements/ml-transformers.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/ml-transformers.txt /root/.cache/pip/ml-transformers.txt && \
    cat /opt/requirements/ml-transformers.txt >> /opt/venv/installed.txt
