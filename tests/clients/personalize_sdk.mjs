// Drives an openpersonalize server with the AWS SDK for JavaScript v3, as a user's Node service would:
// list/describe/paginate, create/delete, GetRecommendations with a filter, GetPersonalizedRanking,
// PutEvents, and errors surfacing as the SDK's exception classes. Stops at the first failed check;
// ends with the line "N passed, M failed".
//
// Environment (tests/test_clients.py sets it from resources it trained): OP_ENDPOINT, OP_REGION,
// OP_ACCESS_KEY_ID, OP_SECRET_ACCESS_KEY, OP_DATASET_GROUP_ARN, OP_SOLUTION_VERSION_ARN, OP_CAMPAIGN_ARN,
// OP_RANKING_CAMPAIGN_ARN, OP_GENRE_FILTER_ARN (INCLUDE ... GENRE IN ($GENRE)), OP_TRACKING_ID,
// OP_COMEDY_USER, OP_DRAMA_USER, OP_COMEDY_ITEMS, OP_DRAMA_ITEMS (space-separated item ids of each genre).
import assert from "node:assert/strict";
import {
  CreateDatasetGroupCommand,
  CreateFilterCommand,
  DeleteDatasetGroupCommand,
  DeleteFilterCommand,
  DescribeCampaignCommand,
  DescribeDatasetGroupCommand,
  DescribeFilterCommand,
  DescribeSolutionVersionCommand,
  InvalidNextTokenException,
  ListDatasetGroupsCommand,
  ListRecipesCommand,
  ListTagsForResourceCommand,
  PersonalizeClient,
  PersonalizeServiceException,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
  paginateListDatasetGroups,
} from "@aws-sdk/client-personalize";
import {
  GetPersonalizedRankingCommand,
  GetRecommendationsCommand,
  PersonalizeRuntimeClient,
  ResourceNotFoundException as RuntimeResourceNotFoundException,
} from "@aws-sdk/client-personalize-runtime";
import {
  PersonalizeEventsClient,
  PutEventsCommand,
  ResourceNotFoundException as EventsResourceNotFoundException,
} from "@aws-sdk/client-personalize-events";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const config = {
  endpoint: env("OP_ENDPOINT"),
  region: env("OP_REGION"),
  credentials: { accessKeyId: env("OP_ACCESS_KEY_ID"), secretAccessKey: env("OP_SECRET_ACCESS_KEY") },
  maxAttempts: 1,
};
const personalize = new PersonalizeClient(config);
const runtime = new PersonalizeRuntimeClient(config);
const events = new PersonalizeEventsClient(config);

const comedies = new Set(env("OP_COMEDY_ITEMS").split(" "));
const dramas = new Set(env("OP_DRAMA_ITEMS").split(" "));
const runId = `sdk-${process.pid}-${Date.now() % 100000}`;
let passed = 0;

async function check(name, body) {
  try {
    await body();
  } catch (error) {
    console.error(`FAIL: ${name}: ${error.stack ?? error}`);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  }
  passed += 1;
}

async function rejects(promise, errorClass, code, status) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error.name}: ${error.message}`);
    assert.equal(error.name, code);
    if (status) assert.equal(error.$metadata.httpStatusCode, status);
    assert.ok(error.$metadata.httpStatusCode >= 400 && error.$metadata.httpStatusCode < 500);
    assert.ok(error.message.length > 0);
    return true;
  });
}

const ids = (list) => list.map((entry) => entry.itemId);

function allIn(list, allowed) {
  assert.ok(list.length > 0, "no items");
  for (const id of list) assert.ok(allowed.has(id), `${id} is not one of ${[...allowed].join(" ")}`);
}

async function recommend(input) {
  return (await runtime.send(new GetRecommendationsCommand({ campaignArn: env("OP_CAMPAIGN_ARN"), ...input })))
    .itemList;
}

// --- control plane: describe and list ---
await check("ListRecipes has aws-user-personalization", async () => {
  const { recipes } = await personalize.send(new ListRecipesCommand({}));
  assert.ok(recipes.some((r) => r.recipeArn === "arn:aws:personalize:::recipe/aws-user-personalization"));
});

await check("DescribeCampaign is ACTIVE with dates", async () => {
  const { campaign } = await personalize.send(new DescribeCampaignCommand({ campaignArn: env("OP_CAMPAIGN_ARN") }));
  assert.equal(campaign.status, "ACTIVE");
  assert.equal(campaign.solutionVersionArn, env("OP_SOLUTION_VERSION_ARN"));
  assert.ok(campaign.creationDateTime instanceof Date && !Number.isNaN(campaign.creationDateTime.getTime()));
});

await check("DescribeSolutionVersion is ACTIVE", async () => {
  const { solutionVersion } = await personalize.send(
    new DescribeSolutionVersionCommand({ solutionVersionArn: env("OP_SOLUTION_VERSION_ARN") }),
  );
  assert.equal(solutionVersion.status, "ACTIVE");
});

// --- create, describe, delete ---
const groupName = `${runId}-group`;
let groupArn;
await check("CreateDatasetGroup with tags, then DescribeDatasetGroup", async () => {
  ({ datasetGroupArn: groupArn } = await personalize.send(
    new CreateDatasetGroupCommand({ name: groupName, tags: [{ tagKey: "team", tagValue: "node" }] }),
  ));
  const { datasetGroup } = await personalize.send(new DescribeDatasetGroupCommand({ datasetGroupArn: groupArn }));
  assert.equal(datasetGroup.name, groupName);
  assert.equal(datasetGroup.status, "ACTIVE");
});

await check("ListTagsForResource", async () => {
  const { tags } = await personalize.send(new ListTagsForResourceCommand({ resourceArn: groupArn }));
  assert.deepEqual(tags, [{ tagKey: "team", tagValue: "node" }]);
});

await check("a second CreateDatasetGroup of the name is ResourceAlreadyExistsException", async () => {
  await rejects(
    personalize.send(new CreateDatasetGroupCommand({ name: groupName })),
    ResourceAlreadyExistsException,
    "ResourceAlreadyExistsException",
  );
});

await check("CreateFilter, DescribeFilter, DeleteFilter", async () => {
  const expression = 'EXCLUDE ItemID WHERE Items.GENRE IN ("comedy")';
  const { filterArn } = await personalize.send(
    new CreateFilterCommand({ name: `${runId}-filter`, datasetGroupArn: groupArn, filterExpression: expression }),
  );
  const { filter } = await personalize.send(new DescribeFilterCommand({ filterArn }));
  assert.equal(filter.filterExpression, expression);
  assert.equal(filter.datasetGroupArn, groupArn);
  await personalize.send(new DeleteFilterCommand({ filterArn }));
  await rejects(
    personalize.send(new DescribeFilterCommand({ filterArn })),
    ResourceNotFoundException,
    "ResourceNotFoundException",
  );
});

await check("DeleteDatasetGroup, then DescribeDatasetGroup is ResourceNotFoundException", async () => {
  await personalize.send(new DeleteDatasetGroupCommand({ datasetGroupArn: groupArn }));
  await rejects(
    personalize.send(new DescribeDatasetGroupCommand({ datasetGroupArn: groupArn })),
    ResourceNotFoundException,
    "ResourceNotFoundException",
  );
});

// --- pagination ---
const pageArns = [];
for (let n = 1; n <= 4; n += 1) {
  const { datasetGroupArn } = await personalize.send(new CreateDatasetGroupCommand({ name: `${runId}-page-${n}` }));
  pageArns.push(datasetGroupArn);
}

await check("paginateListDatasetGroups with pageSize 1 visits every group, one per page", async () => {
  const seen = [];
  let pages = 0;
  for await (const page of paginateListDatasetGroups({ client: personalize, pageSize: 1 }, {})) {
    pages += 1;
    assert.ok(page.datasetGroups.length <= 1);
    seen.push(...page.datasetGroups.map((g) => g.datasetGroupArn));
  }
  for (const arn of pageArns) assert.ok(seen.includes(arn), `${arn} not listed`);
  assert.equal(new Set(seen).size, seen.length, "a group was listed twice");
  assert.ok(pages >= pageArns.length);
});

await check("ListDatasetGroups maxResults and nextToken", async () => {
  const first = await personalize.send(new ListDatasetGroupsCommand({ maxResults: 2 }));
  assert.equal(first.datasetGroups.length, 2);
  assert.ok(first.nextToken);
  const second = await personalize.send(new ListDatasetGroupsCommand({ maxResults: 2, nextToken: first.nextToken }));
  const firstArns = first.datasetGroups.map((g) => g.datasetGroupArn);
  for (const group of second.datasetGroups) assert.ok(!firstArns.includes(group.datasetGroupArn));
});

await check("a bad nextToken is InvalidNextTokenException", async () => {
  await rejects(
    personalize.send(new ListDatasetGroupsCommand({ nextToken: "not-a-token" })),
    InvalidNextTokenException,
    "InvalidNextTokenException",
  );
});

for (const datasetGroupArn of pageArns) await personalize.send(new DeleteDatasetGroupCommand({ datasetGroupArn }));

// --- runtime ---
await check("GetRecommendations: a comedy fan gets 5 comedies with scores", async () => {
  const items = await recommend({ userId: env("OP_COMEDY_USER"), numResults: 5 });
  assert.equal(items.length, 5);
  allIn(ids(items), comedies);
  for (const item of items) assert.equal(typeof item.score, "number");
});

await check("GetRecommendations with filterArn and filterValues GENRE=drama", async () => {
  const items = await recommend({
    userId: env("OP_COMEDY_USER"),
    numResults: 5,
    filterArn: env("OP_GENRE_FILTER_ARN"),
    filterValues: { GENRE: '"drama"' },
  });
  allIn(ids(items), dramas);
});

await check("GetPersonalizedRanking puts a drama fan's dramas first", async () => {
  const { personalizedRanking, recommendationId } = await runtime.send(
    new GetPersonalizedRankingCommand({
      campaignArn: env("OP_RANKING_CAMPAIGN_ARN"),
      userId: env("OP_DRAMA_USER"),
      inputList: ["comedy-00", "drama-12", "comedy-03", "drama-13"],
    }),
  );
  const ranked = ids(personalizedRanking);
  assert.deepEqual([...ranked].sort(), ["comedy-00", "comedy-03", "drama-12", "drama-13"]);
  allIn(ranked.slice(0, 2), dramas);
  assert.ok(recommendationId);
});

await check("GetRecommendations of a missing campaign is ResourceNotFoundException", async () => {
  await rejects(
    runtime.send(new GetRecommendationsCommand({ campaignArn: `${env("OP_CAMPAIGN_ARN")}-missing`, userId: "u" })),
    RuntimeResourceNotFoundException,
    "ResourceNotFoundException",
  );
});

// --- events ---
const newcomer = `${runId}-newcomer`;
await check("a newcomer gets the popular comedies", async () => {
  allIn(ids(await recommend({ userId: newcomer, numResults: 5 })), comedies);
});

await check("PutEvents, then the newcomer gets dramas", async () => {
  const sent = await events.send(
    new PutEventsCommand({
      trackingId: env("OP_TRACKING_ID"),
      userId: newcomer,
      sessionId: `${runId}-session`,
      eventList: [
        { eventType: "watch", itemId: "drama-07", sentAt: new Date(1_700_000_000_000) },
        { eventType: "watch", itemId: "drama-08", sentAt: new Date(1_700_000_060_000), eventValue: 4.5 },
      ],
    }),
  );
  assert.equal(sent.$metadata.httpStatusCode, 200);
  allIn(ids(await recommend({ userId: newcomer, numResults: 5 })), dramas);
});

await check("PutEvents with an unknown trackingId is ResourceNotFoundException", async () => {
  await rejects(
    events.send(
      new PutEventsCommand({
        trackingId: `${runId}-no-such-tracker`,
        sessionId: `${runId}-session`,
        eventList: [{ eventType: "watch", itemId: "drama-07", sentAt: new Date() }],
      }),
    ),
    EventsResourceNotFoundException,
    "ResourceNotFoundException",
  );
});

// --- signatures ---
await check("a wrong secret is InvalidSignatureException (403)", async () => {
  const credentials = { ...config.credentials, secretAccessKey: "not-the-secret" };
  const impostor = new PersonalizeClient({ ...config, credentials });
  await rejects(
    impostor.send(new ListDatasetGroupsCommand({})),
    PersonalizeServiceException,
    "InvalidSignatureException",
    403,
  );
});

console.log(`${passed} passed, 0 failed`);
