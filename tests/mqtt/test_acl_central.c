/*
 * test_acl_central.c - the central broker's rights against the real
 * Mosquitto: gateway uplinks reach exactly one cloud worker of the shared
 * subscription group; a gateway cannot publish as or read another gateway,
 * nor write configuration; cloud workers answer every gateway; a device
 * certificate has no rights at all; a gateway issued after start gets its
 * rights when the configuration is regenerated and the broker SIGHUP'ed; an
 * IT identity writes retained configuration that only its store's gateway
 * reads, and reads the status reports; only cloud workers announce changes,
 * to every gateway.
 */
#include "tb_assert.h"

#define G42 "rg/v1/g/gw-0042"
#define G43 "rg/v1/g/gw-0043"
#define SHARED_UP "$share/cloud/rg/v1/g/+/up/#"

struct fixture {
	struct tb_env *env;
	struct tb_broker *broker;
};

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	/* The central ACL lists the gateways and workers issued before it is generated. */
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0042", "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0043", "0043") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-1", NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-2", NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, "dev-0042-k1", "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_IT, "it-alice", NULL) < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_CENTRAL, NULL, &f->broker) < 0)
		return -1;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	if (f)
		tb_env_free(f->env);
	free(f);
	return 0;
}

static void gateway_uplinks_reach_exactly_one_worker_of_the_shared_group(void **state)
{
	struct fixture *f = *state;
	struct tb_client *c1 = tb_connect_as(f->env, f->broker, "cloud-1");
	struct tb_client *c2 = tb_connect_as(f->env, f->broker, "cloud-2");
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *g43 = tb_connect_as(f->env, f->broker, "gw-0043");
	enum { N = 20 };
	int seen[2 * N] = {0};
	struct tb_msg m;

	assert_int_equal(tb_sub(c1, SHARED_UP), 1);
	assert_int_equal(tb_sub(c2, SHARED_UP), 1);
	for (int i = 0; i < N; i++) {
		char payload[32];
		snprintf(payload, sizeof payload, "%d", i);
		assert_int_equal(tb_pub(g42, G42 "/up/interactions", payload), RC_OK);
		snprintf(payload, sizeof payload, "%d", N + i);
		assert_int_equal(tb_pub(g43, G43 "/up/priority", payload), RC_OK);
	}
	/* Every message once, to one worker or the other, never both. */
	int total = 0, per_worker[2] = {0, 0};
	for (int64_t end = tb_now_ms() + TB_WAIT_MS; total < 2 * N && tb_now_ms() < end;) {
		int w = tb_client_next(c1, &m, 0) == 0	 ? 0
			: tb_client_next(c2, &m, 0) == 0 ? 1
							 : -1;
		if (w < 0) {
			tb_env_pump(f->env, 5);
			continue;
		}
		int i = atoi(m.payload);
		assert_true(i >= 0 && i < 2 * N);
		assert_string_equal(m.topic, i < N ? G42 "/up/interactions" : G43 "/up/priority");
		seen[i]++;
		per_worker[w]++;
		total++;
	}
	assert_int_equal(total, 2 * N);
	print_message("shared subscription split: cloud-1 %d, cloud-2 %d\n", per_worker[0],
		      per_worker[1]);
	for (int i = 0; i < 2 * N; i++)
		assert_int_equal(seen[i], 1);
	tb_expect_nothing(c1, 100);
	tb_expect_nothing(c2, 0);
	tb_client_free(g43);
	tb_client_free(g42);
	tb_client_free(c2);
	tb_client_free(c1);
}

static void gateway_cannot_publish_as_or_read_another_gateway(void **state)
{
	struct fixture *f = *state;
	struct tb_client *cloud = tb_connect_as(f->env, f->broker, "cloud-1");
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *g43 = tb_connect_as(f->env, f->broker, "gw-0043");
	static const char *const forged[] = {
	    G43 "/up/interactions",
	    G43 "/req/lookup",
	    G43 "/status",
	    G43 "/d/dev-0043-k1/status",
	    G43 "/down/ack",
	    G42 "/down/ack",
	    "rg/v1/config/tenant",
	    "rg/v1/config/store/0042",
	    "rg/v1/s/0042/d/dev-0042-k1/up/x",
	    "rg/v1/central/changes",
	};

	assert_int_equal(tb_sub(cloud, "$share/cloud/rg/v1/g/+/up/#"), 1);
	for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
		if (tb_pub(g42, forged[i], "forged") != RC_NOT_AUTHORIZED)
			fail_msg("gw-0042 could publish to %s", forged[i]);
	assert_int_equal(tb_pub(g43, G43 "/up/interactions", "genuine"), RC_OK);
	tb_expect_marker_only(cloud, G43 "/up/interactions", "genuine");

	/* Reading: gw-0042 asks for gw-0043's downlink, directly and by wildcard. */
	/* (Filters chosen not to overlap on its own topics: overlapping
	 * subscriptions each get a copy under MQTT v5.) */
	tb_sub(g42, G43 "/down/#");
	tb_sub(g42, "rg/v1/g/+/down/#");
	tb_sub(g42, "rg/v1/g/+/up/#");
	assert_int_equal(tb_sub(g43, G43 "/down/#"), 1);
	assert_int_equal(tb_pub(cloud, G43 "/down/ack", "canary"), RC_OK);
	tb_expect(g43, G43 "/down/ack", "canary");
	assert_int_equal(tb_pub(cloud, G42 "/down/ack", "marker"), RC_OK);
	tb_expect_marker_only(g42, G42 "/down/ack", "marker");
	assert_int_equal(tb_client_pending(g42), 0);
	/* Nor does a gateway see the other gateways' uplinks. */
	assert_int_equal(tb_pub(g43, G43 "/up/telemetry", "private"), RC_OK);
	assert_int_equal(tb_pub(cloud, G42 "/down/ack", "marker-2"), RC_OK);
	tb_expect_marker_only(g42, G42 "/down/ack", "marker-2");
	tb_client_free(g43);
	tb_client_free(g42);
	tb_client_free(cloud);
}

/* Central's notice of changes: any cloud worker announces, every gateway
 * reads; nobody else writes it (a forged one would make every store pull). */
static void cloud_workers_announce_changes_to_every_gateway(void **state)
{
	struct fixture *f = *state;
	struct tb_client *cloud = tb_connect_as(f->env, f->broker, "cloud-2");
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *g43 = tb_connect_as(f->env, f->broker, "gw-0043");
	struct tb_client *it = tb_connect_as(f->env, f->broker, "it-alice");
	const char *notice = "{\"v\":1,\"type\":\"changes_available\",\"latest\":7}";

	assert_int_equal(tb_sub(g42, "rg/v1/central/changes"), 1);
	assert_int_equal(tb_sub(g43, "rg/v1/central/changes"), 1);
	assert_int_equal(tb_pub(cloud, "rg/v1/central/changes", notice), RC_OK);
	tb_expect(g42, "rg/v1/central/changes", notice);
	tb_expect(g43, "rg/v1/central/changes", notice);
	assert_int_equal(tb_pub(it, "rg/v1/central/changes", "forged"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(g43, "rg/v1/central/changes", "forged"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(cloud, "rg/v1/central/changes", "marker"), RC_OK);
	tb_expect_marker_only(g42, "rg/v1/central/changes", "marker");
	tb_client_free(it);
	tb_client_free(g43);
	tb_client_free(g42);
	tb_client_free(cloud);
}

static void device_certificate_has_no_rights_on_the_central_broker(void **state)
{
	struct fixture *f = *state;
	struct tb_client *cloud = tb_connect_as(f->env, f->broker, "cloud-1");
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *dev = tb_connect_as(f->env, f->broker, "dev-0042-k1");

	assert_int_equal(tb_sub(cloud, SHARED_UP), 1);
	assert_int_equal(tb_pub(dev, "rg/v1/g/dev-0042-k1/up/interactions", "x"),
			 RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(dev, G42 "/up/interactions", "x"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(dev, G42 "/down/ack", "x"), RC_NOT_AUTHORIZED);
	tb_sub(dev, "rg/v1/#");
	tb_sub(dev, "#");
	/* Traffic flows around it, and none reaches it (nothing here is readable
	 * for it, so the proof is a bounded wait after the deliveries). */
	assert_int_equal(tb_pub(g42, G42 "/up/interactions", "private"), RC_OK);
	tb_expect(cloud, G42 "/up/interactions", "private");
	/* 0 or 16: Mosquitto counts the device's (denied) "#" as a match or not. */
	int reason = tb_pub(cloud, G42 "/down/ack", "private-ack");
	assert_true(reason == RC_OK || reason == RC_NO_SUBSCRIBERS);
	tb_expect_nothing(dev, 300);
	tb_client_free(dev);
	tb_client_free(g42);
	tb_client_free(cloud);
}

static void new_gateway_gets_rights_after_regenerate_and_sighup(void **state)
{
	struct fixture *f = *state;
	struct tb_client *cloud = tb_connect_as(f->env, f->broker, "cloud-1");
	struct tb_client *g44;
	int64_t deadline;
	int reason = RC_NOT_AUTHORIZED;

	assert_int_equal(tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0044", "0044"), 0);
	g44 = tb_connect_as(f->env, f->broker, "gw-0044");
	assert_int_equal(tb_sub(cloud, SHARED_UP), 1);
	/* Not in the ACL the broker loaded: connected, but no rights. */
	assert_int_equal(tb_pub(g44, "rg/v1/g/gw-0044/up/interactions", "early"),
			 RC_NOT_AUTHORIZED);
	assert_int_equal(tb_broker_reload(f->broker), 0);
	/* SIGHUP is asynchronous: poll until the new ACL is in force. */
	for (deadline = tb_now_ms() + TB_WAIT_MS;
	     reason == RC_NOT_AUTHORIZED && tb_now_ms() < deadline;)
		reason = tb_pub(g44, "rg/v1/g/gw-0044/up/interactions", "after-reload");
	assert_int_equal(reason, RC_OK);
	tb_expect(cloud, "rg/v1/g/gw-0044/up/interactions", "after-reload");
	assert_int_equal(tb_pub(g44, G42 "/up/interactions", "x"), RC_NOT_AUTHORIZED);
	tb_client_free(g44);
	tb_client_free(cloud);
}

/* Publish retained at QoS 1 and return the PUBACK reason code. */
static int tb_pub_retained(struct tb_client *c, const char *topic, const char *payload)
{
	int reason = -1, rc = tb_client_publish(c, topic, payload, 1, true, &reason);
	if (rc)
		fail_msg("publish %s: %s", topic, rg_errname(rc));
	return reason;
}

static void it_writes_retained_configuration_only_its_store_gateway_reads(void **state)
{
	struct fixture *f = *state;
	struct tb_client *it = tb_connect_as(f->env, f->broker, "it-alice");
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *g43 = tb_connect_as(f->env, f->broker, "gw-0043");
	struct tb_client *dev = tb_connect_as(f->env, f->broker, "dev-0042-k1");
	struct tb_msg m;
	int reason;

	/* IT writes the store document, retained; gateways and devices cannot. */
	reason = tb_pub_retained(it, "rg/v1/config/store/0042", "store-0042-v1");
	assert_true(reason == RC_OK || reason == RC_NO_SUBSCRIBERS);
	assert_int_equal(tb_pub_retained(g42, "rg/v1/config/store/0042", "forged"),
			 RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub_retained(g43, "rg/v1/config/tenant", "forged"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub_retained(dev, "rg/v1/config/store/0042", "forged"),
			 RC_NOT_AUTHORIZED);
	/* IT has no gateway rights. */
	assert_int_equal(tb_pub(it, G42 "/up/interactions", "x"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(it, G42 "/status", "x"), RC_NOT_AUTHORIZED);

	/* The store's own gateway gets the retained document, unchanged by the forgeries. */
	assert_int_equal(tb_sub(g42, "rg/v1/config/store/0042"), 1);
	assert_int_equal(tb_client_next(g42, &m, TB_WAIT_MS), 0);
	assert_string_equal(m.topic, "rg/v1/config/store/0042");
	assert_string_equal(m.payload, "store-0042-v1");
	assert_true(m.retained);
	/* Another store's gateway never does, not even by wildcard: the marker
	 * (its own store document) comes first and alone. */
	assert_int_equal(tb_sub(g43, "rg/v1/config/#"), 1);
	reason = tb_pub(it, "rg/v1/config/store/0043", "marker");
	assert_int_equal(reason, RC_OK);
	tb_expect_marker_only(g43, "rg/v1/config/store/0043", "marker");
	/* Key-set rotations reach every gateway. */
	assert_int_equal(tb_pub(it, "rg/v1/config/keys/2", "keys-2"), RC_OK);
	tb_expect(g43, "rg/v1/config/keys/2", "keys-2");
	/* A device subscribed to everything still gets nothing. */
	tb_sub(dev, "#");
	assert_int_equal(tb_pub(it, "rg/v1/config/store/0042", "not-retained"), RC_OK);
	assert_int_equal(tb_client_next(g42, &m, TB_WAIT_MS), 0);
	assert_string_equal(m.payload, "not-retained");
	tb_expect_nothing(dev, 200);

	/* IT reads the gateways' and the mirrored devices' status reports. */
	assert_int_equal(tb_sub(it, "rg/v1/g/+/status"), 1);
	assert_int_equal(tb_sub(it, "rg/v1/g/+/d/+/status"), 1);
	assert_int_equal(tb_pub(g42, G42 "/d/dev-0042-k1/status", "{\"online\":true}"), RC_OK);
	tb_expect(it, G42 "/d/dev-0042-k1/status", "{\"online\":true}");

	/* Clear the retained document (an empty retained payload), with nobody
	 * subscribed to it any more. */
	tb_client_free(dev);
	tb_client_free(g43);
	tb_client_free(g42);
	reason = tb_pub_retained(it, "rg/v1/config/store/0042", "");
	assert_true(reason == RC_OK || reason == RC_NO_SUBSCRIBERS);
	tb_client_free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(gateway_uplinks_reach_exactly_one_worker_of_the_shared_group),
	    cmocka_unit_test(gateway_cannot_publish_as_or_read_another_gateway),
	    cmocka_unit_test(cloud_workers_announce_changes_to_every_gateway),
	    cmocka_unit_test(device_certificate_has_no_rights_on_the_central_broker),
	    cmocka_unit_test(new_gateway_gets_rights_after_regenerate_and_sighup),
	    cmocka_unit_test(it_writes_retained_configuration_only_its_store_gateway_reads),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
