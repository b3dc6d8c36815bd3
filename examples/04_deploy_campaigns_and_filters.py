"""Notebook 04: campaigns and filters (genre, decade, watched / unwatched)."""

from _common import client, restore, store, wait

state = restore()
personalize = client("personalize")
campaigns = {}
for key in ("userpersonalization", "sims", "rerank"):
    campaigns[key] = personalize.create_campaign(
        name=f"personalize-poc-{key}",
        solutionVersionArn=state[f"{key}_solution_version_arn"],
        minProvisionedTPS=1,
    )["campaignArn"]
for arn in campaigns.values():
    campaign = wait(personalize.describe_campaign, "campaign", campaignArn=arn)
    assert campaign["status"] == "ACTIVE", campaign.get("failureReason")

filters = {}
for genre in ("Action", "Comedy", "Horror", "Drama"):
    filters[genre] = personalize.create_filter(
        name=f"{genre}",
        datasetGroupArn=state["dataset_group_arn"],
        filterExpression=f'INCLUDE ItemID WHERE Items.GENRE IN ("{genre}")',
    )["filterArn"]
filters["1970s"] = personalize.create_filter(
    name="decade_1970s",
    datasetGroupArn=state["dataset_group_arn"],
    filterExpression="INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980",
)["filterArn"]
filters["watched"] = personalize.create_filter(
    name="watched",
    datasetGroupArn=state["dataset_group_arn"],
    filterExpression='INCLUDE ItemID WHERE Interactions.event_type IN ("watch")',
)["filterArn"]
filters["unwatched"] = personalize.create_filter(
    name="unwatched",
    datasetGroupArn=state["dataset_group_arn"],
    filterExpression='EXCLUDE ItemID WHERE Interactions.event_type IN ("watch")',
)["filterArn"]
store(**{f"{key}_campaign_arn": arn for key, arn in campaigns.items()}, filter_arns=filters)
