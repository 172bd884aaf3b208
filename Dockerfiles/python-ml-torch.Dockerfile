FROM 127.0.0.1:5000/demo/python-ml:latest
COPY requirements/ml-torch.txt /opt/requirements/ml-torch.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \
    cp /opt/requirements/ml-torch.txt /root/.cache/pip/ml-torch.txt && \
    cat /opt/requirements/ml-torch.txt >> /opt/venv/installed.txt
