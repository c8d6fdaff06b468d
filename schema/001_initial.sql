-- 001_initial: the rollout, its inventory, gateway jobs and the event log.
--
-- Conventions (schema/README.md has the full reference):
--  - times are INTEGER milliseconds since the Unix epoch (UTC); NULL means
--    "not yet" (the daemon's 0);
--  - names of servers and clusters compare case-insensitively, as Windows
--    compares computer names;
--  - enum columns hold the names the control socket shows, and a CHECK
--    lists every allowed value;
--  - the daemon writes only inside BEGIN IMMEDIATE transactions, a state
--    change together with the event that records it.

-- The one rollout this file belongs to.
CREATE TABLE rollout (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	state          TEXT    NOT NULL CHECK (state IN ('running', 'paused',
	                   'waiting_window', 'completed', 'aborted')),
	pause_cause    TEXT    NOT NULL DEFAULT 'none'
	                   CHECK (pause_cause IN ('none', 'operator', 'failure')),
	reason         TEXT,
	nonce          TEXT    NOT NULL CHECK (length(nonce) = 12 AND
	                   nonce NOT GLOB '*[^0-9a-f]*'),
	job_seq        INTEGER NOT NULL DEFAULT 0 CHECK (job_seq >= 0),
	target_version TEXT    NOT NULL
	                   CHECK (target_version GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*'),
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
);

-- Every server of the inventory (standalone or CCR node). name, roles and
-- cluster are the inventory, fixed when the rollout is created; the rest is
-- the server's progress.
CREATE TABLE servers (
	name             TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
	roles            TEXT    NOT NULL CHECK (roles <> '' AND
	                     replace(replace(replace(replace(replace(replace(roles,
	                     'ClientAccess', ''), 'EdgeTransport', ''),
	                     'HubTransport', ''), 'UnifiedMessaging', ''),
	                     'Mailbox', ''), ', ', '') = ''),
	cluster          TEXT    COLLATE NOCASE REFERENCES clusters (name)
	                     DEFERRABLE INITIALLY DEFERRED,
	state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN
	                     ('pending', 'running', 'failed', 'done', 'skipped')),
	phase            TEXT    NOT NULL DEFAULT 'none' CHECK (phase IN ('none',
	                     'precheck', 'install', 'reboot', 'verify', 'done')),
	attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	version          TEXT    CHECK (version IS NULL OR
	                     version GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*'),
	reboot_required  INTEGER NOT NULL DEFAULT 0
	                     CHECK (reboot_required IN (0, 1)),
	last_error       TEXT,
	started_at       INTEGER,
	finished_at      INTEGER,
	phase_started_at INTEGER,
	wake_at          INTEGER,
	install_ms       INTEGER CHECK (install_ms IS NULL OR install_ms >= 0)
);

-- Every CCR cluster: the clustered mailbox server and its two nodes
-- (configuration order), and the progress of its steps.
CREATE TABLE clusters (
	name              TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
	node_a            TEXT    NOT NULL COLLATE NOCASE
	                      REFERENCES servers (name)
	                      DEFERRABLE INITIALLY DEFERRED,
	node_b            TEXT    NOT NULL COLLATE NOCASE
	                      REFERENCES servers (name)
	                      DEFERRABLE INITIALLY DEFERRED,
	step              TEXT    NOT NULL DEFAULT 'pending' CHECK (step IN
	                      ('pending', 'discover', 'upgrade_passive',
	                      'failover', 'upgrade_former_active', 'failback',
	                      'done', 'skipped')),
	original_active   TEXT    COLLATE NOCASE CHECK (original_active IS NULL
	                      OR original_active IN (node_a, node_b)),
	active            TEXT    COLLATE NOCASE CHECK (active IS NULL OR
	                      active IN (node_a, node_b)),
	cms_state         TEXT    CHECK (cms_state IS NULL OR
	                      length(cms_state) BETWEEN 1 AND 23),
	approved_failover INTEGER NOT NULL DEFAULT 0
	                      CHECK (approved_failover IN (0, 1)),
	approved_failback INTEGER NOT NULL DEFAULT 0
	                      CHECK (approved_failback IN (0, 1)),
	cms_stopped       INTEGER NOT NULL DEFAULT 0
	                      CHECK (cms_stopped IN (0, 1)),
	blocked           INTEGER NOT NULL DEFAULT 0
	                      CHECK (blocked IN (0, 1)),
	attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	moves             INTEGER NOT NULL DEFAULT 0 CHECK (moves >= 0),
	last_error        TEXT,
	started_at        INTEGER,
	finished_at       INTEGER,
	wake_at           INTEGER,
	CHECK (node_a <> node_b)
);

-- Every gateway job ever issued. The row is committed in state 'intent'
-- before the request is sent (DESIGN section 3.2); id is the gateway's
-- idempotency key and request the exact body, re-sent byte for byte after
-- a restart. A job serves exactly one unit: a server or a cluster.
CREATE TABLE jobs (
	id           TEXT    NOT NULL PRIMARY KEY
	                 CHECK (length(id) BETWEEN 1 AND 64 AND
	                 id NOT GLOB '*[^A-Za-z0-9._-]*'),
	kind         TEXT    NOT NULL CHECK (kind IN ('get_server',
	                 'test_health', 'setup', 'restart', 'cms_status',
	                 'cms_stop', 'cms_move', 'cms_setup', 'cms_start')),
	state        TEXT    NOT NULL CHECK (state IN ('intent', 'submitted',
	                 'completed', 'failed', 'rejected')),
	server       TEXT    COLLATE NOCASE REFERENCES servers (name),
	cluster      TEXT    COLLATE NOCASE REFERENCES clusters (name),
	request      TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	submitted_at INTEGER,
	finished_at  INTEGER,
	http_status  INTEGER CHECK (http_status IS NULL OR
	                 http_status BETWEEN 100 AND 599),
	result       TEXT,
	error        TEXT,
	CHECK ((server IS NULL) <> (cluster IS NULL))
);

-- Resume reads the jobs still in flight (intent, submitted).
CREATE INDEX jobs_by_state ON jobs (state);
-- The report lists a unit's jobs in order; these also serve the foreign
-- keys' checks.
CREATE INDEX jobs_by_server ON jobs (server, created_at);
CREATE INDEX jobs_by_cluster ON jobs (cluster, created_at);

-- The append-only log of everything that happened, in commit order. seq
-- only grows and is never reused (AUTOINCREMENT), so a client following
-- with "since" never misses or re-reads one; triggers refuse UPDATE and
-- DELETE.
CREATE TABLE events (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,
	kind    TEXT    NOT NULL CHECK (kind <> ''),
	subject TEXT    NOT NULL,
	message TEXT    NOT NULL,
	actor   TEXT    NOT NULL
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;
