/*
 * test_acl_store.c - the store broker's rights against the real Mosquitto
 * (store 0042): own uplink yes (PUBACK 0); another device's topics, the
 * gateway's side or another store's tree no (PUBACK 135, nothing delivered);
 * another device's certificate makes a client that device and nothing more;
 * no, foreign or server-only certificates cannot connect at all.
 */
#include "tb_assert.h"

#include <unistd.h>

#define S "rg/v1/s/0042"
#define K1 "dev-0042-k1"
#define K2 "dev-0042-k2"

struct fixture {
	struct tb_env *env;
	struct tb_broker *broker;
};

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	if (tb_env_issue(f->env, PKI_KIND_DEVICE, K1, "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, K2, "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, "dev-0043-k1", "0043") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0042", "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0043", "0043") < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_STORE, "0042", &f->broker) < 0)
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

static void device_publishes_its_own_uplink_and_the_gateway_receives_it(void **state)
{
	struct fixture *f = *state;
	struct tb_client *gw = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *k1 = tb_connect_as(f->env, f->broker, K1);

	assert_int_equal(tb_sub(gw, S "/d/+/up/#"), 1);
	assert_int_equal(tb_sub(gw, S "/d/+/req/#"), 1);
	assert_int_equal(tb_sub(gw, S "/d/+/status"), 1);
	static const char *const lanes[] = {"priority", "interactions", "telemetry"};
	for (size_t i = 0; i < 3; i++) {
		char topic[128];
		snprintf(topic, sizeof topic, S "/d/" K1 "/up/%s", lanes[i]);
		assert_int_equal(tb_pub(k1, topic, "{\"batch\":1}"), RC_OK);
		tb_expect(gw, topic, "{\"batch\":1}");
	}
	assert_int_equal(tb_pub(k1, S "/d/" K1 "/req/lookup", "q"), RC_OK);
	tb_expect(gw, S "/d/" K1 "/req/lookup", "q");
	assert_int_equal(tb_pub(k1, S "/d/" K1 "/status", "{\"online\":true}"), RC_OK);
	tb_expect(gw, S "/d/" K1 "/status", "{\"online\":true}");
	tb_client_free(k1);
	tb_client_free(gw);
}

static void device_cannot_publish_as_another_device_or_as_the_gateway(void **state)
{
	struct fixture *f = *state;
	struct tb_client *gw = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *k1 = tb_connect_as(f->env, f->broker, K1);
	struct tb_client *k2 = tb_connect_as(f->env, f->broker, K2);
	static const char *const forged[] = {
	    S "/d/" K2 "/up/interactions", /* another device's uplink */
	    S "/d/" K2 "/up/priority",
	    S "/d/" K2 "/req/lookup",
	    S "/d/" K2 "/status",
	    "rg/v1/s/0043/d/" K1 "/up/interactions", /* its own id under another store */
	    S "/d/" K1 "/down/ack",		     /* the gateway's side of its own topics */
	    S "/d/" K2 "/down/ack",
	    S "/d/" K1 "/config",
	    S "/config/store",
	    S "/down/changes",
	    S "/gateway/status",
	    "rg/v1/g/gw-0042/up/interactions",
	    "$SYS/broker/uptime",
	};

	assert_int_equal(tb_sub(gw, S "/#"), 1);
	for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
		if (tb_pub(k1, forged[i], "forged") != RC_NOT_AUTHORIZED)
			fail_msg("%s could publish to %s", K1, forged[i]);
	/* Nothing forged reached the gateway: the next thing it sees is k2's own. */
	assert_int_equal(tb_pub(k2, S "/d/" K2 "/up/interactions", "genuine"), RC_OK);
	tb_expect_marker_only(gw, S "/d/" K2 "/up/interactions", "genuine");
	assert_int_equal(tb_client_pending(gw), 0);
	tb_client_free(k1);
	tb_client_free(k2);
	tb_client_free(gw);
}

static void device_cannot_read_another_devices_downlink_or_config(void **state)
{
	struct fixture *f = *state;
	struct tb_client *gw = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *k1 = tb_connect_as(f->env, f->broker, K1);
	struct tb_client *k2 = tb_connect_as(f->env, f->broker, K2);
	int reason;

	/* The retained config of k2 is there before k1 even subscribes. */
	assert_int_equal(tb_client_publish(gw, S "/d/" K2 "/config", "k2-config", 1, true, &reason),
			 0);
	assert_true(reason == RC_OK || reason == RC_NO_SUBSCRIBERS);
	/* k1 asks for k2's topics explicitly and through wildcards. Mosquitto
	 * grants such subscriptions in the SUBACK and filters at delivery. */
	int g1 = tb_sub(k1, S "/d/" K2 "/down/#");
	int g2 = tb_sub(k1, S "/d/+/config");
	int g3 = tb_sub(k1, "rg/v1/#");
	print_message("SUBACK codes for foreign filters: %d %d %d\n", g1, g2, g3);
	assert_int_equal(tb_sub(k2, S "/d/" K2 "/down/#"), 1);

	/* The canary: k2's downlink, which k2 does receive. */
	assert_int_equal(tb_pub(gw, S "/d/" K2 "/down/ack", "canary"), RC_OK);
	tb_expect(k2, S "/d/" K2 "/down/ack", "canary");
	/* The marker: k1's own downlink. It must be the first thing k1 sees. */
	assert_int_equal(tb_pub(gw, S "/d/" K1 "/down/ack", "marker"), RC_OK);
	tb_expect_marker_only(k1, S "/d/" K1 "/down/ack", "marker");
	/* Store-wide topics are for every device of the store. */
	assert_int_equal(tb_pub(gw, S "/down/changes", "seq=7"), RC_OK);
	tb_expect(k1, S "/down/changes", "seq=7");
	assert_int_equal(tb_client_pending(k1), 0);

	assert_int_equal(tb_client_publish(gw, S "/d/" K2 "/config", "", 1, true, &reason),
			 0); /* clear */
	tb_client_free(k1);
	tb_client_free(k2);
	tb_client_free(gw);
}

static void device_with_another_devices_certificate_is_only_that_device(void **state)
{
	struct fixture *f = *state;
	struct tb_client_opts o = {.identity = K1, .client_id = K2}; /* k1's cert, k2's name */
	struct tb_client *gw = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *k2 = tb_connect_as(f->env, f->broker, K2);
	struct tb_client *impostor;

	assert_int_equal(tb_sub(gw, S "/d/+/up/#"), 1);
	assert_int_equal(tb_sub(k2, S "/d/" K2 "/down/#"), 1);
	assert_int_equal(tb_client_new(f->env, &o, &impostor), 0);
	assert_int_equal(tb_client_connect(impostor, f->broker, NULL), 0);
	assert_int_equal(tb_sub(impostor, S "/d/" K2 "/down/#"), 1);

	/* Claiming k2's client id neither took over k2's session nor its rights. */
	assert_int_equal(tb_pub(impostor, S "/d/" K2 "/up/interactions", "as-k2"),
			 RC_NOT_AUTHORIZED);
	assert_true(tb_client_connected(k2));
	/* It speaks as the certificate's identity, k1, and the gateway sees k1. */
	assert_int_equal(tb_pub(impostor, S "/d/" K1 "/up/interactions", "as-k1"), RC_OK);
	tb_expect(gw, S "/d/" K1 "/up/interactions", "as-k1");
	/* k2's downlink goes to k2 only. */
	assert_int_equal(tb_pub(gw, S "/d/" K2 "/down/ack", "for-k2"), RC_OK);
	tb_expect(k2, S "/d/" K2 "/down/ack", "for-k2");
	/* What it does get is k1's downlink, which comes after k2's. */
	assert_int_equal(tb_sub(impostor, S "/d/" K1 "/down/#"), 1);
	assert_int_equal(tb_pub(gw, S "/d/" K1 "/down/ack", "marker"), RC_OK);
	tb_expect_marker_only(impostor, S "/d/" K1 "/down/ack", "marker");
	/* And k2 is still itself. */
	assert_true(tb_client_connected(k2));
	assert_int_equal(tb_pub(k2, S "/d/" K2 "/up/interactions", "k2-genuine"), RC_OK);
	tb_expect(gw, S "/d/" K2 "/up/interactions", "k2-genuine");
	tb_client_free(impostor);
	tb_client_free(k2);
	tb_client_free(gw);
}

static void expect_refused(struct fixture *f, const struct tb_client_opts *o, const char *what)
{
	struct tb_client *c;
	int reason = -1, rc;
	assert_int_equal(tb_client_new(f->env, o, &c), 0);
	rc = tb_client_connect(c, f->broker, &reason);
	if (rc == 0)
		fail_msg("%s was accepted", what);
	/* Refused in the TLS handshake: no CONNACK at all. */
	assert_int_equal(rc, RG_ERR_CLOSED);
	assert_false(tb_client_connected(c));
	tb_client_free(c);
}

static void clients_without_a_valid_client_certificate_cannot_connect(void **state)
{
	struct fixture *f = *state;
	struct pki_ca_params ca = {.tenant = "acme"};
	struct pki_issue_params leaf = {.kind = PKI_KIND_DEVICE, .id = K1, .store = "0042"};
	char other[4200], cert[4300], key[4300], ca_file[4200], err[PKI_ERR_MAX];

	/* The harness's client trusts the right CA all along. */
	assert_int_equal(tb_env_file(f->env, "ca", ".crt", ca_file, sizeof ca_file), 0);
	assert_int_equal(access(ca_file, R_OK), 0);

	struct tb_client_opts none = {.identity = NULL, .client_id = K1};
	expect_refused(f, &none, "a client without a certificate");

	/* The same identity from a CA of the same name but another key. */
	snprintf(other, sizeof other, "%s/other-ca", tb_env_dir(f->env));
	assert_int_equal(pki_ca_create(other, &ca, err, sizeof err), 0);
	assert_int_equal(pki_cert_issue(other, &leaf, err, sizeof err), 0);
	snprintf(cert, sizeof cert, "%s/%s.crt", other, K1);
	snprintf(key, sizeof key, "%s/%s.key", other, K1);
	struct tb_client_opts foreign = {.identity = K1, .certfile = cert, .keyfile = key};
	expect_refused(f, &foreign, "a certificate of another CA");

	/* A broker certificate is for servers (serverAuth only). */
	struct tb_client_opts server = {.identity = "broker-0042"};
	expect_refused(f, &server, "a broker (serverAuth) certificate as a client");
}

static void gateway_of_another_store_cannot_touch_this_stores_devices(void **state)
{
	struct fixture *f = *state;
	struct tb_client *gw = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *other = tb_connect_as(f->env, f->broker, "gw-0043");
	struct tb_client *k1 = tb_connect_as(f->env, f->broker, K1);

	assert_int_equal(tb_sub(other, S "/d/+/up/#"), 1);
	assert_int_equal(tb_sub(other, S "/#"), 1);
	assert_int_equal(tb_sub(other, "rg/v1/s/0043/#"), 1);
	assert_int_equal(tb_sub(k1, S "/d/" K1 "/down/#"), 1);
	/* It cannot write to the devices of 0042, nor pose as 0042's gateway. */
	assert_int_equal(tb_pub(other, S "/d/" K1 "/down/ack", "forged-ack"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(other, S "/d/" K1 "/config", "forged-config"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(other, S "/down/changes", "forged"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(other, S "/config/store", "forged"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(other, "rg/v1/s/0043/d/dev-0043-k1/down/ack", "x"),
			 RC_NOT_AUTHORIZED);
	/* ... and 0042's gateway cannot write into store 0043's tree either. */
	assert_int_equal(tb_pub(gw, "rg/v1/s/0043/d/dev-0043-k1/down/ack", "x"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(gw, S "/d/" K1 "/down/ack", "genuine-ack"), RC_OK);
	tb_expect(k1, S "/d/" K1 "/down/ack", "genuine-ack");
	/* It reads none of 0042's device traffic: the first thing it gets is the
	 * store-wide marker published after the device's uplink. */
	assert_int_equal(tb_pub(k1, S "/d/" K1 "/up/interactions", "private"), RC_OK);
	assert_int_equal(tb_pub(gw, S "/down/marker", "marker"), RC_OK);
	tb_expect_marker_only(other, S "/down/marker", "marker");
	assert_int_equal(tb_client_pending(other), 0);
	tb_client_free(k1);
	tb_client_free(other);
	tb_client_free(gw);
}

static void device_of_another_store_is_confined_to_its_own_identity(void **state)
{
	struct fixture *f = *state;
	struct tb_client *gw = tb_connect_as(f->env, f->broker, "gw-0042");
	struct tb_client *stranger = tb_connect_as(f->env, f->broker, "dev-0043-k1");
	struct tb_client *k1 = tb_connect_as(f->env, f->broker, K1);

	assert_int_equal(tb_sub(gw, S "/d/+/up/#"), 1);
	assert_int_equal(tb_sub(stranger, S "/d/+/down/#"), 1);
	assert_int_equal(tb_pub(stranger, S "/d/" K1 "/up/interactions", "x"), RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(stranger, "rg/v1/s/0043/d/dev-0043-k1/up/interactions", "x"),
			 RC_NOT_AUTHORIZED);
	assert_int_equal(tb_pub(gw, S "/d/" K1 "/down/ack", "for-k1"), RC_OK);
	assert_int_equal(tb_pub(gw, S "/d/dev-0043-k1/down/ack", "marker"), RC_OK);
	tb_expect_marker_only(stranger, S "/d/dev-0043-k1/down/ack", "marker");
	tb_client_free(k1);
	tb_client_free(stranger);
	tb_client_free(gw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(device_publishes_its_own_uplink_and_the_gateway_receives_it),
	    cmocka_unit_test(device_cannot_publish_as_another_device_or_as_the_gateway),
	    cmocka_unit_test(device_cannot_read_another_devices_downlink_or_config),
	    cmocka_unit_test(device_with_another_devices_certificate_is_only_that_device),
	    cmocka_unit_test(clients_without_a_valid_client_certificate_cannot_connect),
	    cmocka_unit_test(gateway_of_another_store_cannot_touch_this_stores_devices),
	    cmocka_unit_test(device_of_another_store_is_confined_to_its_own_identity),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
