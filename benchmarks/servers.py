"""Real servers for tests and benchmarks, each on loopback, each stoppable: PostgreSQL, an
``mlflow server`` (on a sqlite file or on PostgreSQL), a Spark standalone master with a
worker, and a Spark Connect server."""
import glob
import os
import shutil
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


class Postgres:
    """A PostgreSQL server of its own (Debian's package: ``apt-get install postgresql``) on a
    loopback port, run as the ``postgres`` user (it refuses root), its data in a new folder
    that user owns (removed by ``stop``)."""

    def __init__(self):
        import tempfile

        self.folder = os.path.join(tempfile.mkdtemp(prefix="hyperspark-pg-"), "data")
        self.port = _free_port()
        self.bin = self.find_bin()
        self.started = False

    @staticmethod
    def find_bin():
        """The folder of PostgreSQL's server programs, or None when it is not installed."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if found:
            return os.path.dirname(found[-1])
        pg_ctl = shutil.which("pg_ctl")
        return os.path.dirname(pg_ctl) if pg_ctl else None

    def _as_postgres(self, *command):
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run(prefix + list(command), check=True, capture_output=True, text=True,
                       timeout=120)

    def start(self):
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        os.makedirs(self.folder, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(os.path.dirname(self.folder), "postgres")
            shutil.chown(self.folder, "postgres")
            os.chmod(os.path.dirname(self.folder), 0o755)
        if not os.path.exists(os.path.join(self.folder, "PG_VERSION")):
            self._as_postgres(f"{self.bin}/initdb", "-D", self.folder, "-A", "trust",
                              "-U", "postgres")
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", self.folder, "-l",
                          os.path.join(self.folder, "server.log"),
                          "-o", f"-p {self.port} -k /var/tmp -h 127.0.0.1", "-w", "start")
        self.started = True
        return self

    def create_database(self, name):
        """A new database; returns its SQLAlchemy URI for MLflow."""
        self._as_postgres(f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        if self.started:
            self._as_postgres(f"{self.bin}/pg_ctl", "-D", self.folder, "-m", "fast", "-w",
                              "stop")
            self.started = False
        shutil.rmtree(os.path.dirname(self.folder), ignore_errors=True)


class TrackingServer:
    """What teams track into: an ``mlflow server`` (``workers`` processes) on a PostgreSQL
    database of its own, on loopback. ``uri`` is the tracking URI; ``server`` can be stopped
    and started again on the same port and database."""

    def __init__(self, folder, workers=2):
        self.postgres = Postgres()
        self.folder, self.workers = folder, workers
        self.server = None

    def start(self):
        os.makedirs(self.folder, exist_ok=True)
        self.postgres.start()
        self.server = Server(self.folder, self.postgres.create_database("mlflow"),
                             workers=self.workers).start()
        self.uri = self.server.uri
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop()
        self.postgres.stop()


SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""MLflow 3.x's server also starts a job runner by default (two huey consumer processes, 15
workers, for its GenAI jobs), which tracking never uses; on 2 cores their start-up and polling
cost every test that starts or restarts a server."""


class Server:
    """``mlflow server`` on loopback, stoppable and restartable on the same port and store:
    a sqlite file in ``folder`` by default, or ``backend_store_uri`` (PostgreSQL)."""

    def __init__(self, folder, backend_store_uri=None, workers=1):
        self.folder, self.port = folder, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.backend_store_uri = backend_store_uri or f"sqlite:///{folder}/server.db"
        self.workers = workers
        self.process = None

    def start(self, within_s=90):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers),
             "--backend-store-uri", self.backend_store_uri,
             "--artifacts-destination", str(self.folder / "artifacts")],
            stdout=open(self.folder / "server.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **SERVER_ENV})
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
        if self.process is not None:
            stop_group(self.process, grace_s=20)




def stop_group(process, grace_s):
    """SIGTERM the process group ``process`` leads (it was started in a new session), and
    SIGKILL it if it has not exited within ``grace_s``: on a loaded machine a server may finish
    serving and still linger (seen: mlflow server's launcher outliving its uvicorn by 20 s)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


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
    """A Spark standalone master and ``workers`` workers on 127.0.0.1 (``cores`` each),
    started with pyspark's own ``bin/spark-class``, as a user's small cluster would be."""

    def __init__(self, folder, cores=2, memory="2g", workers=1):
        import pyspark

        self.folder, self.cores, self.memory = folder, cores, memory
        self.worker_count = workers
        self.spark_home = os.path.dirname(pyspark.__file__)
        self.port = _free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.processes = []
        self.workers = []
        """Each worker's process (its own process group: its executors are in it too)."""
        self.work_dir = folder / "work"

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
        for index in range(self.worker_count):
            worker_port = _free_port()
            worker, log = self._launch(f"worker-{index}" if index else "worker",
                                       "org.apache.spark.deploy.worker.Worker",
                                       "--host", "127.0.0.1", "--port", str(worker_port),
                                       "--webui-port", str(_free_port()), "--cores",
                                       str(self.cores), "--memory", self.memory,
                                       self.master_url)
            _wait_for_port(worker_port, worker, log)
            self.workers.append(worker)
        return self

    def kill_worker(self, index):
        """SIGKILL worker ``index`` and its executors (a machine lost), and wait for them."""
        process = self.workers[index]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def stop(self):
        for process in reversed(self.processes):
            stop_group(process, grace_s=30)


class ConnectServer:
    """A Spark Connect server (pyspark's own ``sbin/start-connect-server.sh``) in front of
    ``master``, on loopback, with its Spark UI on (its REST API lists running jobs)."""

    def __init__(self, folder, master="local[2]", conf=None):
        import pyspark

        self.folder, self.master, self.conf = folder, master, dict(conf or {})
        self.spark_home = os.path.dirname(pyspark.__file__)
        self.port, self.ui_port = _free_port(), _free_port()
        self.url = f"sc://127.0.0.1:{self.port}"
        self.process = None

    def start(self, within_s=120):
        log = self.folder / "connect-server.log"
        conf = {"spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.connect.grpc.binding.port": str(self.port),
                "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                "spark.ui.port": str(self.ui_port), "spark.ui.showConsoleProgress": "false",
                "spark.executor.memory": "512m", **self.conf}
        args = [os.path.join(self.spark_home, "sbin", "start-connect-server.sh"), "--wait",
                "--master", self.master]
        for key, value in conf.items():
            args += ["--conf", f"{key}={value}"]
        env = {**os.environ, "SPARK_HOME": self.spark_home, "SPARK_LOCAL_IP": "127.0.0.1",
               "PYSPARK_PYTHON": sys.executable, "SPARK_LOG_DIR": str(self.folder / "logs"),
               "SPARK_PID_DIR": str(self.folder / "pids"),
               "SPARK_WORKER_DIR": str(self.folder / "work")}
        env.pop("SPARK_REMOTE", None)
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        self.process = subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True)
        _wait_for_port(self.port, self.process, log, within_s)
        return self

    def session(self):
        """A Spark Connect client session to this server."""
        return self.session_at(self.url)

    @staticmethod
    def session_at(url):
        """A Spark Connect client session to ``url`` (the classic builder refuses one while
        this process also holds a classic session; the Connect builder does not)."""
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.builder.remote(url).create()

    def _jobs(self, query=""):
        import json

        base = f"http://127.0.0.1:{self.ui_port}/api/v1/applications"
        with urllib.request.urlopen(base, timeout=10) as answer:
            application = json.load(answer)[0]["id"]
        with urllib.request.urlopen(f"{base}/{application}/jobs{query}", timeout=10) as answer:
            return json.load(answer)

    def running_jobs(self):
        """Ids of the jobs running now, from the server's Spark UI REST API."""
        return [job["jobId"] for job in self._jobs("?status=running")]

    def job_tags(self):
        """The tags of every job the server ran (one list per job)."""
        return [job.get("jobTags", []) for job in self._jobs()]

    def stop(self):
        if self.process is not None:
            stop_group(self.process, grace_s=30)
