"""Everything the POC notebook run changes or adds, each with its reason: the one place to judge its fidelity.

The code cells of ../shared/personalize-poc/01..06 run in order under IPython, exactly as written,
except for the SUBSTITUTIONS (each must match its notebook exactly once, so a changed notebook fails
loudly instead of running unadapted). KERNEL lists what the runner does around the cells, and
``environment`` how boto3 is pointed at openpersonalize (Personalize) and moto (S3, IAM, STS)
without editing a cell.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = (
    "01_Validating_and_Importing_User_Item_Interaction_Data.py",
    "02_Validating_and_Importing_Item_Metadata.py",
    "03_Creating_and_Evaluating_Solutions.py",
    "04_Deploying_Campaigns_and_Filters.py",
    "05_Interacting_with_Campaigns_and_Filters.py",
    "06_Clean_Up_Resources.py",
)
CELL_SEPARATOR = "\n#----\n"
REGION = "us-east-1"  # the seed notebook's region (its bucket was <account>-us-east-1-personalizepocvod)
DOWNLOAD_DIR = "download"  # beside the notebooks' working directory: the zip GroupLens serves, built locally
SLEEP_CAP_S = 1.0
SEED_ENV = "OPENPERSONALIZE_POC_SEED"
# moto's server (S3, IAM, STS) knows AWS's managed policies, as IAM does: cell 01 attaches
# AmazonPersonalizeFullAccess and AmazonS3FullAccess to its role, and 06 detaches them.
MOTO_ENV = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
DEFAULT_SEED = 2020


@dataclass(frozen=True)
class Substitution:
    """Replace ``old`` (which must occur exactly once in ``notebook``) by ``new``."""

    notebook: str
    old: str
    new: str
    reason: str


SUBSTITUTIONS = (
    Substitution(
        NOTEBOOKS[0],
        "    !cd $data_dir && wget http://files.grouplens.org/datasets/movielens/ml-latest-small.zip\n",
        f"    !cd $data_dir && cp ../{DOWNLOAD_DIR}/ml-latest-small.zip .\n",
        "No network in CI: the download becomes a copy of the same zip (ml-latest-small/ and its files, built by "
        "the runner from ../shared/datasets/ml-latest-small); the next line's `unzip` runs unchanged.",
    ),
    Substitution(
        NOTEBOOKS[0],
        "with open('/opt/ml/metadata/resource-metadata.json') as notebook_info:\n"
        "    data = json.load(notebook_info)\n"
        "    resource_arn = data['ResourceArn']\n"
        "    region = resource_arn.split(':')[3]\n",
        f'region = "{REGION}"\n',
        "The file exists only on a SageMaker notebook instance; the cell reads the region from it.",
    ),
    Substitution(
        NOTEBOOKS[4],
        "dtype={'movieId': \"object\", 'title': \"str\"},index_col=0)",
        "dtype={'title': \"str\"},index_col=0)",
        "The notebook's pandas ignored the dtype of an index column (pandas issue #9435) and kept movieId an int "
        "index, which `items_df.loc[589]` and get_movie_by_id's `movie_df.loc[int(movie_id)]` rely on (the seed prints "
        "'Terminator 2: Judgment Day (1991)'); pandas 1.5 honours it, makes the index strings, and both "
        "lookups fail. Dropping the index column's dtype gives the int index the notebook was written for.",
    ),
)

KERNEL = (
    (
        f"time.sleep sleeps at most {SLEEP_CAP_S:g} s",
        "The polling loops wait 60 s between Describe calls and cell 01 waits 60 s for IAM propagation; "
        "05's sleeps only pace the demo. The loops still poll until the status changes.",
    ),
    (
        f"random and numpy's global generator are seeded ({SEED_ENV}, default {DEFAULT_SEED})",
        "Notebooks 04 and 05 sample genres, users and movies at random; a seed makes a failure replayable. "
        "Not needed to run: set another seed to explore other samples.",
    ),
    (
        "each notebook starts with an empty namespace and IPython's storemagic loaded",
        "As in Jupyter (one kernel per notebook): values reach the next notebook only through %store / %store -r.",
    ),
    (
        "a `!` command that exits non-zero fails its cell",
        "Stricter than Jupyter, which only prints the shell's error and runs on.",
    ),
    (
        "boto3's default session records every Personalize call (parameters, response) in the report",
        "Observation only: the test checks the notebooks' results from these records.",
    ),
)


def adapted_cells(notebook_dir: Path) -> list[tuple[str, list[str]]]:
    """Each notebook's code cells after its substitutions; ValueError unless each substitution matches once."""
    notebooks = []
    for name in NOTEBOOKS:
        text = (notebook_dir / name).read_text()
        for sub in SUBSTITUTIONS:
            if sub.notebook == name:
                count = text.count(sub.old)
                if count != 1:
                    raise ValueError(f"an adaptation matches {name} {count} times (expected once): {sub.old!r}")
                text = text.replace(sub.old, sub.new)
        notebooks.append((name, [cell.strip("\n") for cell in text.split(CELL_SEPARATOR)]))
    return notebooks


def environment(
    personalize_url: str, aws_url: str, access_key: str, secret_key: str, work: Path, venv: Path
) -> dict[str, str]:
    """The notebook process's environment: every boto3 client the cells create goes to a local server.

    botocore reads AWS_ENDPOINT_URL_<SERVICE>: Personalize's three clients go to openpersonalize, S3, IAM
    and STS to moto (so the bucket, upload, bucket policy and role cells run unchanged). Shared AWS config
    and credential files are ignored so the machine's own AWS setup cannot leak in. The notebook
    environment's bin/ leads PATH, as in a notebook's kernel (the `!pygmentize` cell uses it).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            "AWS_ENDPOINT_URL_PERSONALIZE": personalize_url,
            "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": personalize_url,
            "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": personalize_url,
            "AWS_ENDPOINT_URL_S3": aws_url,
            "AWS_ENDPOINT_URL_IAM": aws_url,
            "AWS_ENDPOINT_URL_STS": aws_url,
            "IPYTHONDIR": str(work / "ipython"),
            "PATH": str(venv / "bin") + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    return env
