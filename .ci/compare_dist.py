"""Compare a built wheel and sdist with the source tree: every file of hyperspark/ that git
tracks must be in both (and the wheel must hold nothing of hyperspark/ that the tree lacks).

Usage: python .ci/compare_dist.py WHEEL SDIST   (exit status 1 on a difference)
"""
import subprocess
import sys
import tarfile
import zipfile


def source_files() -> set:
    listed = subprocess.run(["git", "ls-files", "hyperspark"], check=True, capture_output=True,
                            text=True).stdout.split()
    return {path for path in listed if not path.endswith(".pyc")}


def wheel_files(path: str) -> set:
    with zipfile.ZipFile(path) as wheel:
        return {name for name in wheel.namelist() if name.startswith("hyperspark/")}


def sdist_files(path: str) -> set:
    with tarfile.open(path) as sdist:
        names = [member.name.split("/", 1)[1] for member in sdist.getmembers()
                 if member.isfile() and "/" in member.name]
    return {name for name in names if name.startswith("hyperspark/")}


def main(wheel: str, sdist: str) -> int:
    source = source_files()
    problems = []
    for kind, shipped in (("wheel", wheel_files(wheel)), ("sdist", sdist_files(sdist))):
        missing, extra = sorted(source - shipped), sorted(shipped - source)
        if missing:
            problems.append(f"the {kind} lacks {len(missing)} file(s) of the source tree: "
                            f"{missing}")
        if kind == "wheel" and extra:
            problems.append(f"the wheel holds file(s) the source tree lacks: {extra}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    modules = sum(1 for path in source if path.endswith(".py"))
    print(f"wheel and sdist hold all {len(source)} files of hyperspark/ ({modules} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
