/*
 * test_broker_lifecycle.c - the harness itself against the real broker: a
 * broker started on a free port accepts mutual-TLS MQTT v5 clients; SIGTERM
 * stops it and frees the port; a restart comes back on the same port with
 * its persistence (retained messages and a persistent session's queued QoS 1
 * message survive); after SIGKILL it restarts on the same port too; a store
 * and a central broker run side by side.
 */
#include "tb_assert.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
	struct tb_env *env;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	if (tb_env_issue(f->env, PKI_KIND_DEVICE, "dev-0042-k1", "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0042", "0042") < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tb_env_free(f->env);
	free(f);
	return 0;
}

static bool port_open(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static void start_accepts_mtls_clients_and_stop_frees_the_port(void **state)
{
	struct fixture *f = *state;
	struct tb_broker *b;

	assert_int_equal(tb_broker_start(f->env, PKI_BROKER_STORE, "0042", &b), 0);
	unsigned port = tb_broker_port(b);
	pid_t pid = tb_broker_pid(b);
	assert_true(port > 0 && pid > 0);
	struct tb_client *c = tb_connect_as(f->env, b, "dev-0042-k1");
	assert_true(tb_client_connected(c));
	assert_int_equal(tb_broker_stop(b), 0); /* exited on SIGTERM, reaped */
	assert_int_equal(tb_broker_pid(b), -1);
	assert_int_equal(kill(pid, 0), -1); /* no such process any more */
	assert_false(port_open(port));
	tb_env_pump(f->env, 50);
	assert_false(tb_client_connected(c));
	tb_client_free(c);
}

static void restart_keeps_port_retained_messages_and_queued_session_messages(void **state)
{
	struct fixture *f = *state;
	struct tb_broker *b;
	struct tb_client_opts dev_opts = {.identity = "dev-0042-k1", .persistent = true};
	struct tb_client *dev, *gw;
	int reason;

	assert_int_equal(tb_broker_start(f->env, PKI_BROKER_STORE, "0042", &b), 0);
	unsigned port = tb_broker_port(b);
	/* The device subscribes in a persistent session, then goes away. */
	assert_int_equal(tb_client_new(f->env, &dev_opts, &dev), 0);
	assert_int_equal(tb_client_connect(dev, b, &reason), 0);
	assert_int_equal(tb_sub(dev, "rg/v1/s/0042/d/dev-0042-k1/down/#"), 1);
	assert_int_equal(tb_client_disconnect(dev), 0);
	/* The gateway leaves a retained config and an ack for the offline device. */
	gw = tb_connect_as(f->env, b, "gw-0042");
	assert_int_equal(
	    tb_client_publish(gw, "rg/v1/s/0042/d/dev-0042-k1/config", "cfg-v7", 1, true, &reason),
	    0);
	assert_int_equal(reason, RC_NO_SUBSCRIBERS); /* stored all the same: it is retained */
	assert_int_equal(tb_pub(gw, "rg/v1/s/0042/d/dev-0042-k1/down/ack", "ack-1"), RC_OK);
	tb_client_free(gw);

	assert_int_equal(tb_broker_restart(b), 0); /* SIGTERM, start again */
	assert_int_equal(tb_broker_port(b), port);

	/* The session resumes with its queued message; the retained config is there. */
	assert_int_equal(tb_client_connect(dev, b, &reason), 0);
	tb_expect(dev, "rg/v1/s/0042/d/dev-0042-k1/down/ack", "ack-1");
	assert_int_equal(tb_sub(dev, "rg/v1/s/0042/d/dev-0042-k1/config"), 1);
	struct tb_msg m;
	assert_int_equal(tb_client_next(dev, &m, TB_WAIT_MS), 0);
	assert_string_equal(m.topic, "rg/v1/s/0042/d/dev-0042-k1/config");
	assert_string_equal(m.payload, "cfg-v7");
	assert_true(m.retained);
	tb_client_free(dev);
}

static void sigkill_then_restart_on_the_same_port(void **state)
{
	struct fixture *f = *state;
	struct tb_broker *b;
	struct tb_client_opts o = {.identity = "dev-0042-k1"};
	struct tb_client *c;

	assert_int_equal(tb_broker_start(f->env, PKI_BROKER_STORE, "0042", &b), 0);
	unsigned port = tb_broker_port(b);
	assert_int_equal(tb_broker_kill(b), 0);
	assert_false(port_open(port));
	assert_int_equal(tb_client_new(f->env, &o, &c), 0);
	assert_int_equal(tb_client_connect(c, b, NULL), RG_ERR_CLOSED);
	assert_int_equal(tb_broker_restart(b), 0);
	assert_int_equal(tb_broker_port(b), port);
	assert_int_equal(tb_client_connect(c, b, NULL), 0);
	assert_int_equal(tb_pub(c, "rg/v1/s/0042/d/dev-0042-k1/up/telemetry", "{}"),
			 RC_NO_SUBSCRIBERS);
	tb_client_free(c);
}

static void store_and_central_brokers_run_side_by_side(void **state)
{
	struct fixture *f = *state;
	struct tb_broker *store, *central;

	assert_int_equal(tb_broker_start(f->env, PKI_BROKER_STORE, "0042", &store), 0);
	assert_int_equal(tb_broker_start(f->env, PKI_BROKER_CENTRAL, NULL, &central), 0);
	assert_int_not_equal(tb_broker_port(store), tb_broker_port(central));
	struct tb_client *a = tb_connect_as(f->env, store, "gw-0042");
	struct tb_client *b = tb_connect_as(f->env, central, "dev-0042-k1");
	assert_true(tb_client_connected(a) && tb_client_connected(b));
	tb_client_free(a);
	tb_client_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(start_accepts_mtls_clients_and_stop_frees_the_port,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		restart_keeps_port_retained_messages_and_queued_session_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(sigkill_then_restart_on_the_same_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(store_and_central_brokers_run_side_by_side, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
