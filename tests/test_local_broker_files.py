"""The local broker's files agree with each other (no broker needed)."""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POM = REPO / "deploy" / "kafka" / "pom.xml"
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "broker.sh"
COMPOSE = REPO / "docker-compose.yml"
MAVEN = "{http://maven.apache.org/POM/4.0.0}"


def pom_kafka_version() -> str:
    version = ET.parse(POM).getroot().findtext(f"{MAVEN}properties/{MAVEN}kafka.version")
    assert version, f"no <kafka.version> in {POM}"
    return version


def test_compose_image_is_the_release_the_jars_are() -> None:
    images = re.findall(r"^\s*image:\s*apache/kafka:(\S+)\s*$", COMPOSE.read_text(), re.MULTILINE)
    assert images == [pom_kafka_version()]


def test_broker_script_is_executable_bash() -> None:
    assert os.access(BROKER_SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(BROKER_SCRIPT)], check=True)
