"""Real servers for tests: an ``mlflow server`` and a Spark standalone master with a worker,
each on loopback, each stoppable."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``mlflow server`` on loopback, stoppable and restartable on the same port and store."""

    def __init__(self, folder):
        self.folder, self.port = folder, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, within_s=90):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.folder}/server.db",
             "--artifacts-destination", str(self.folder / "artifacts")],
            stdout=open(self.folder / "server.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.uri + "/health", timeout=1)
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.folder / "server.log").read_text()[-2000:])
                time.sleep(0.3)
        raise RuntimeError("mlflow server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)




def _wait_for_port(port, process, log, within_s=90):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing listens on {port} after {within_s} s:\n"
                       f"{log.read_text()[-3000:]}")


class StandaloneCluster:
    """A Spark standalone master and one worker on 127.0.0.1, started with pyspark's own
    ``bin/spark-class``, as a user's small cluster would be."""

    def __init__(self, folder, cores=2, memory="2g"):
        import pyspark

        self.folder, self.cores, self.memory = folder, cores, memory
        self.spark_home = os.path.dirname(pyspark.__file__)
        self.port = _free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.processes = []

    def _launch(self, name, *args):
        log = self.folder / f"{name}.log"
        env = {**os.environ, "SPARK_HOME": self.spark_home, "SPARK_LOCAL_IP": "127.0.0.1",
               "SPARK_WORKER_DIR": str(self.folder / "work"), "PYSPARK_PYTHON": sys.executable}
        process = subprocess.Popen(
            [os.path.join(self.spark_home, "bin", "spark-class"), *args],
            stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append(process)
        return process, log

    def start(self):
        master, log = self._launch("master", "org.apache.spark.deploy.master.Master",
                                   "--host", "127.0.0.1", "--port", str(self.port),
                                   "--webui-port", str(_free_port()))
        _wait_for_port(self.port, master, log)
        worker_port = _free_port()
        worker, log = self._launch("worker", "org.apache.spark.deploy.worker.Worker",
                                   "--host", "127.0.0.1", "--port", str(worker_port),
                                   "--webui-port", str(_free_port()), "--cores",
                                   str(self.cores), "--memory", self.memory, self.master_url)
        _wait_for_port(worker_port, worker, log)
        return self

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
