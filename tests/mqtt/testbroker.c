/*
 * testbroker.c - the environment (temp dir, PKI) and the broker processes of
 * rg_testbroker: free-port selection, fork/exec of the real mosquitto with
 * its stderr in a log file, readiness by a real mutual-TLS MQTT v5 CONNECT
 * (polled, never a blind sleep), SIGTERM / SIGKILL / restart / SIGHUP. A
 * broker child dies with the test (PR_SET_PDEATHSIG), so none is left over.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "common/err.h"
#include "common/log.h"
#include "tb_internal.h"

#define PORT_ATTEMPTS 10
#define LOG_TAIL 4096

struct tb_broker {
	struct tb_env *env;
	struct pki_broker_params params;
	char store[PKI_STORE_MAX + 1];
	char dir[PATH_MAX];
	char conf[PATH_MAX];
	char log[PATH_MAX];
	pid_t pid;
};

int64_t tb__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tb_now_ms(void)
{
	return tb__now_ms();
}

int tb__fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? RG_ERR_TOOBIG : 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* ---- environment ---- */

int tb_env_create(struct tb_env **out, const char *tenant)
{
	struct pki_ca_params ca = {.tenant = tenant};
	char err[PKI_ERR_MAX];
	const char *base = getenv("TMPDIR");
	struct tb_env *env;
	int rc;

	*out = NULL;
	signal(SIGPIPE, SIG_IGN);
	if (!(env = calloc(1, sizeof *env)))
		return RG_ERR_NOMEM;
	if (!base || !*base)
		base = "/tmp";
	snprintf(env->dir, sizeof env->dir, "%s/rg-mqtt-XXXXXX", base);
	if (!mkdtemp(env->dir)) {
		fprintf(stderr, "testbroker: mkdtemp in %s: %s\n", base, strerror(errno));
		free(env);
		return RG_ERR_IO;
	}
	mosquitto_lib_init();
	if (tb__fmt(env->pki, sizeof env->pki, "%s/pki", env->dir) < 0) {
		tb_env_free(env);
		return RG_ERR_TOOBIG;
	}
	if ((rc = pki_ca_create(env->pki, &ca, err, sizeof err)) < 0 ||
	    (rc = tb_env_issue(env, PKI_KIND_DEVICE, TB_PROBE_ID, TB_PROBE_STORE)) < 0) {
		fprintf(stderr, "testbroker: PKI: %s\n", rc < 0 ? err : "");
		tb_env_free(env);
		return rc;
	}
	*out = env;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tb_env_free(struct tb_env *env)
{
	if (!env)
		return;
	while (env->n_clients)
		tb_client_free(env->clients[env->n_clients - 1]);
	for (size_t i = 0; i < env->n_brokers; i++)
		tb__broker_free(env->brokers[i]);
	mosquitto_lib_cleanup();
	if (getenv("TB_KEEP"))
		fprintf(stderr, "testbroker: kept %s\n", env->dir);
	else
		nftw(env->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(env);
}

const char *tb_env_dir(const struct tb_env *env)
{
	return env->dir;
}

const char *tb_env_pki(const struct tb_env *env)
{
	return env->pki;
}

int tb_env_file(const struct tb_env *env, const char *id, const char *ext, char *buf, size_t cap)
{
	return tb__fmt(buf, cap, "%s/%s%s", env->pki, id, ext);
}

int tb_env_issue(struct tb_env *env, enum pki_kind kind, const char *id, const char *store)
{
	static const char *const sans[] = {"localhost", "127.0.0.1"};
	struct pki_issue_params p = {.kind = kind, .id = id, .store = store};
	char path[PATH_MAX + 80], err[PKI_ERR_MAX];
	int rc;

	snprintf(path, sizeof path, "%s/%s.crt", env->pki, id);
	if (access(path, F_OK) == 0)
		return 0;
	if (kind == PKI_KIND_BROKER) {
		p.sans = sans;
		p.n_sans = 2;
	}
	if ((rc = pki_cert_issue(env->pki, &p, err, sizeof err)) < 0)
		fprintf(stderr, "testbroker: issue %s: %s\n", id, err);
	return rc;
}

int tb__client_add(struct tb_env *env, struct tb_client *c)
{
	if (env->n_clients == TB_CLIENTS_MAX)
		return RG_ERR_TOOBIG;
	env->clients[env->n_clients++] = c;
	return 0;
}

void tb__client_remove(struct tb_env *env, struct tb_client *c)
{
	for (size_t i = 0; i < env->n_clients; i++)
		if (env->clients[i] == c) {
			env->clients[i] = env->clients[--env->n_clients];
			return;
		}
}

/* ---- broker process ---- */

static const char *mosquitto_path(void)
{
	static char found[PATH_MAX];
	const char *env = getenv("REGULARS_MOSQUITTO");
	const char *path = getenv("PATH");
	char dirs[8192];

	if (env && *env)
		return env;
	snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/local/sbin", path ? path : "/usr/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		if (snprintf(found, sizeof found, "%s/mosquitto", d) >= (int)sizeof found)
			continue;
		if (access(found, X_OK) == 0)
			return found;
	}
	return NULL;
}

/* Ask the kernel for a free port on loopback. Another process may take it
 * before mosquitto binds it; the caller retries then. */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return RG_ERR_IO;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port > 0 ? port : RG_ERR_IO;
}

static int write_config(struct tb_broker *b)
{
	char err[PKI_ERR_MAX];
	int rc = pki_broker_config_write(b->env->pki, b->dir, &b->params, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "testbroker: broker config: %s\n", err);
	return rc;
}

static int spawn(struct tb_broker *b)
{
	const char *bin = mosquitto_path();
	pid_t parent = getpid(), pid;
	int fd;

	if (!bin) {
		fprintf(stderr,
			"testbroker: no mosquitto binary (set REGULARS_MOSQUITTO or install "
			"the mosquitto package)\n");
		return RG_ERR_NOTFOUND;
	}
	fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return RG_ERR_IO;
	pid = fork();
	if (pid < 0) {
		close(fd);
		return RG_ERR_IO;
	}
	if (pid == 0) {
		/* The child: die with the test, log to the file, become mosquitto. */
		int devnull = open("/dev/null", O_RDONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execl(bin, "mosquitto", "-c", b->conf, (char *)NULL);
		_exit(127);
	}
	close(fd);
	b->pid = pid;
	return 0;
}

static bool log_contains(const struct tb_broker *b, const char *needle)
{
	char buf[LOG_TAIL + 1];
	FILE *f = fopen(b->log, "rb");
	size_t n;
	long size;

	if (!f)
		return false;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > LOG_TAIL ? size - LOG_TAIL : 0, SEEK_SET);
	n = fread(buf, 1, LOG_TAIL, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void print_log_tail(const struct tb_broker *b)
{
	char buf[LOG_TAIL + 1];
	FILE *f = fopen(b->log, "rb");
	long size;
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > LOG_TAIL ? size - LOG_TAIL : 0, SEEK_SET);
	n = fread(buf, 1, LOG_TAIL, f);
	fclose(f);
	buf[n] = '\0';
	fprintf(stderr, "testbroker: --- %s (tail) ---\n%s\ntestbroker: ---\n", b->log, buf);
}

/* One mutual-TLS MQTT v5 CONNECT with the probe identity. */
static bool probe(struct tb_broker *b)
{
	struct tb_client_opts o = {.identity = TB_PROBE_ID};
	struct tb_client *c;
	bool ok;

	if (tb_client_new(b->env, &o, &c) < 0)
		return false;
	ok = tb_client_connect(c, b, NULL) == 0;
	if (ok)
		tb_client_disconnect(c);
	tb_client_free(c);
	return ok;
}

/* Poll until the broker accepts a client. RG_ERR_BUSY if it exited because
 * its port was taken; RG_ERR_IO if it exited otherwise. */
static int wait_ready(struct tb_broker *b)
{
	int64_t end = tb__now_ms() + TB_WAIT_MS;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)b->params.port)};
	int status;

	while (tb__now_ms() < end) {
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			b->pid = -1;
			if (log_contains(b, "Address already in use"))
				return RG_ERR_BUSY;
			fprintf(stderr,
				"testbroker: mosquitto exited (status 0x%x) while starting\n",
				(unsigned)status);
			print_log_tail(b);
			return RG_ERR_IO;
		}
		/* Cheap check first: is anything listening yet? */
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool listening = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
		if (fd >= 0)
			close(fd);
		if (listening && probe(b))
			return 0;
		sleep_ms(10);
	}
	fprintf(stderr, "testbroker: mosquitto on port %u not ready within %d ms\n", b->params.port,
		TB_WAIT_MS);
	print_log_tail(b);
	tb_broker_kill(b);
	return RG_ERR_TIMEOUT;
}

int tb_broker_start(struct tb_env *env, enum pki_broker_role role, const char *store,
		    struct tb_broker **out)
{
	struct tb_broker *b;
	char id[PKI_ID_MAX + 1];
	int rc = RG_ERR_BUSY;

	*out = NULL;
	if (env->n_brokers == TB_BROKERS_MAX)
		return RG_ERR_TOOBIG;
	if (role == PKI_BROKER_STORE && !pki_store_valid(store))
		return RG_ERR_INVAL;
	if (!(b = calloc(1, sizeof *b)))
		return RG_ERR_NOMEM;
	b->env = env;
	b->pid = -1;
	if (role == PKI_BROKER_STORE)
		snprintf(b->store, sizeof b->store, "%s", store);
	snprintf(id, sizeof id, "broker-%s", role == PKI_BROKER_STORE ? store : "central");
	if (tb__fmt(b->dir, sizeof b->dir, "%s/%s", env->dir, id) < 0 ||
	    tb__fmt(b->conf, sizeof b->conf, "%s/mosquitto.conf", b->dir) < 0 ||
	    tb__fmt(b->log, sizeof b->log, "%s/%s.log", env->dir, id) < 0) {
		free(b);
		return RG_ERR_TOOBIG;
	}
	b->params.role = role;
	b->params.store = role == PKI_BROKER_STORE ? b->store : NULL;
	b->params.bind = "127.0.0.1";
	b->params.run_as_root = geteuid() == 0;
	env->brokers[env->n_brokers++] = b;
	if ((rc = tb_env_issue(env, PKI_KIND_BROKER, id, role == PKI_BROKER_STORE ? store : NULL)) <
	    0)
		return rc;
	for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
		int port = free_port();
		if (port < 0)
			return port;
		b->params.port = (unsigned)port;
		if ((rc = write_config(b)) < 0 || (rc = spawn(b)) < 0)
			return rc;
		if ((rc = wait_ready(b)) != RG_ERR_BUSY)
			break;
	}
	if (rc == 0) {
		rg_info("testbroker", "started", "broker=%s port=%u pid=%d", id, b->params.port,
			(int)b->pid);
		*out = b;
	}
	return rc;
}

unsigned tb_broker_port(const struct tb_broker *b)
{
	return b->params.port;
}

pid_t tb_broker_pid(const struct tb_broker *b)
{
	return b->pid;
}

const char *tb_broker_log(const struct tb_broker *b)
{
	return b->log;
}

const char *tb_broker_dir(const struct tb_broker *b)
{
	return b->dir;
}

int tb_broker_stop(struct tb_broker *b)
{
	int64_t end = tb__now_ms() + TB_WAIT_MS;
	int status;

	if (b->pid <= 0)
		return 0;
	kill(b->pid, SIGTERM);
	while (tb__now_ms() < end) {
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			b->pid = -1;
			return 0;
		}
		sleep_ms(5);
	}
	fprintf(stderr, "testbroker: mosquitto ignored SIGTERM for %d ms; killing it\n",
		TB_WAIT_MS);
	tb_broker_kill(b);
	return RG_ERR_TIMEOUT;
}

int tb_broker_kill(struct tb_broker *b)
{
	if (b->pid <= 0)
		return 0;
	kill(b->pid, SIGKILL);
	while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
		;
	b->pid = -1;
	return 0;
}

int tb_broker_restart(struct tb_broker *b)
{
	int rc;
	if (b->pid > 0 && (rc = tb_broker_stop(b)) < 0)
		return rc;
	if ((rc = spawn(b)) < 0)
		return rc;
	rc = wait_ready(b);
	if (rc == RG_ERR_BUSY)
		fprintf(stderr, "testbroker: port %u was taken while the broker was down\n",
			b->params.port);
	return rc;
}

int tb_broker_reload(struct tb_broker *b)
{
	int rc;
	if (b->pid <= 0)
		return RG_ERR_STATE;
	if ((rc = write_config(b)) < 0)
		return rc;
	return kill(b->pid, SIGHUP) == 0 ? 0 : RG_ERR_IO;
}

void tb__broker_free(struct tb_broker *b)
{
	if (!b)
		return;
	tb_broker_kill(b);
	free(b);
}
