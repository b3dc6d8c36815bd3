"""Notebook 06: delete everything the POC created."""

from _common import client, restore

state = restore()
personalize = client("personalize")
for key in ("userpersonalization", "sims", "rerank"):
    personalize.delete_campaign(campaignArn=state[f"{key}_campaign_arn"])
personalize.delete_event_tracker(eventTrackerArn=state["event_tracker_arn"])
for arn in state["filter_arns"].values():
    personalize.delete_filter(filterArn=arn)
for key in ("userpersonalization", "sims", "rerank"):
    personalize.delete_solution(solutionArn=state[f"{key}_solution_arn"])
personalize.delete_dataset(datasetArn=state["interactions_dataset_arn"])
personalize.delete_dataset(datasetArn=state["items_dataset_arn"])
personalize.delete_schema(schemaArn=state["interaction_schema_arn"])
personalize.delete_schema(schemaArn=state["itemmetadataschema_arn"])
personalize.delete_dataset_group(datasetGroupArn=state["dataset_group_arn"])
print("deleted")
