#ifndef QUIRE_LIMITS_H
#define QUIRE_LIMITS_H

/* Every limit quire applies to what a peer sends, in one place.
   Each has a one-line reason. Limits before authentication are stricter. */

/* Longest POP3 command line (RFC 2449 says 255 octets for commands; we
   accept more so long SASL-IR lines fit, and answer -ERR past this). */
#define POP3_MAX_LINE (8 * 1024)
/* Longest LMTP/SMTP command line (RFC 5321 4.5.3.1.4: 512; with
   extensions' parameters we allow more). */
#define LMTP_MAX_LINE 4096
/* Longest line inside LMTP DATA before we still accept it; RFC 5321
   says 1000, but real mail breaks this and we store it unchanged. */
#define LMTP_MAX_DATA_LINE (1024 * 1024)
/* Default largest message LMTP accepts ([lmtp] max_message_size). */
#define LMTP_DEFAULT_MAX_MESSAGE_SIZE (64ULL * 1024 * 1024)
/* Longest MAIL FROM / RCPT TO address (RFC 5321 4.5.3.1.3 says a path
   is at most 256 octets; long VERP/SRS senders exceed it, so we allow
   more, and it bounds the header lines added at delivery). */
#define LMTP_MAX_ADDRESS 1024
/* Most RCPT TO in one LMTP transaction (RFC 5321 4.5.3.1.8: >= 100). */
#define LMTP_MAX_RECIPIENTS 1000
/* Longest SASL message we decode (base64 of user + pass + authzid). */
#define SASL_MAX_INPUT 8192
/* Failed authentications allowed on one connection before we close it. */
#define AUTH_MAX_FAILURES_PER_CONN 3
/* Bad or unknown commands tolerated before disconnecting a client. */
#define PROTO_MAX_BAD_COMMANDS 20
/* Seconds a POP3 client may take to log in (RFC 1939 allows 10 min idle;
   unauthenticated clients get much less). */
#define POP3_PREAUTH_TIMEOUT_SECS 60
/* Idle seconds before an authenticated POP3 session is closed
   (RFC 1939 3: at least 10 minutes). */
#define POP3_IDLE_TIMEOUT_SECS 600
/* Idle seconds for an LMTP client between commands. */
#define LMTP_IDLE_TIMEOUT_SECS 300
/* Longest user name we accept. */
#define AUTH_MAX_USERNAME 255
/* Longest password we accept. */
#define AUTH_MAX_PASSWORD 1024
/* Output buffered for one client before we stop producing more
   (RETR streams a file; we refill when the buffer drains below this). */
#define CONN_OUTPUT_HIGH_WATER (256 * 1024)
/* Longest mailbox name in bytes. */
#define STORE_MAX_MAILBOX_NAME 1024
/* Longest IMAP keyword (flag) name we store; real ones are short words. */
#define STORE_MAX_KEYWORD_NAME 128
/* Expunge-log entries kept per mailbox for QRESYNC VANISHED; older ones
   are dropped (clients that far behind get a conservative VANISHED). */
#define STORE_EXPUNGE_LOG_MAX 10000

/* net: connection I/O. */
/* Output at or below which a conn calls `output_drained` so a streaming
   reply (RETR, FETCH of a large body) queues its next chunk. */
#define CONN_OUTPUT_LOW_WATER (64 * 1024)
/* A plain conn writes its queued output straight to the socket at the
   end of a loop pass, up to this much; the rest waits for writability. */
#define CONN_DIRECT_SEND_MAX (256 * 1024)
/* Input a conn buffers before it stops reading from the socket; lines
   longer than this need a larger max_len, which raises it per conn. */
#define CONN_INPUT_HIGH_WATER (16 * 1024)
/* Idle seconds a new conn gets until its session sets its own timeout
   (also bounds the implicit TLS handshake). */
#define CONN_DEFAULT_IDLE_TIMEOUT_SECS 60
/* listen(2) backlog per socket (the kernel caps it at somaxconn). */
#define NET_LISTEN_BACKLOG 511
/* Seconds between two "connection limit reached" warnings in the log. */
#define NET_REFUSE_LOG_INTERVAL_SECS 10
/* Seconds a listening socket pauses after accept() ran out of descriptors
   (retrying at once would spin on the still-pending connection). */
#define NET_ACCEPT_PAUSE_SECS 1

/* Authentication (src/auth). */
/* Largest SCRAM salt we accept in a stored value (Dovecot writes 16). */
#define AUTH_SCRAM_MAX_SALT 64
/* Its base64 form. */
#define AUTH_SCRAM_SALT_B64_MAX ((AUTH_SCRAM_MAX_SALT + 2) / 3 * 4)
/* SCRAM iteration counts we accept in a stored value: RFC 7677 says at
   least 4096; the cap bounds the work one PLAIN login against a SCRAM
   value costs us. */
#define AUTH_SCRAM_MIN_ITERATIONS 4096
#define AUTH_SCRAM_MAX_ITERATIONS 10000000
/* Longest stored password value (argon2 with large salts fits easily). */
#define AUTH_MAX_STORED_PASSWORD 1024
/* Longest passwd-file line; longer lines are logged and skipped. */
#define PASSDB_MAX_LINE 16384
/* Largest passwd-file we load (about a million users). */
#define PASSDB_MAX_FILE_SIZE (256 * 1024 * 1024)
/* Failure-throttle table entries (IPs and names together): fixed memory. */
#define AUTH_THROTTLE_SLOTS 4096
/* Failure counts halve after this many seconds. */
#define AUTH_THROTTLE_HALF_LIFE_SECS 300
/* Delay after the second recent failure; doubles with each one after. */
#define AUTH_THROTTLE_BASE_DELAY_MS 250
/* Longest failure reply delay. */
#define AUTH_THROTTLE_MAX_DELAY_MS 15000

/* Message parsing (src/mail), applied at delivery/APPEND. */
/* Bytes of one part's header we keep for parsing; the rest of that header
   is skipped (the part is marked truncated), parsing goes on. */
#define MAIL_MAX_HEADER_SIZE (256 * 1024)
/* Nesting of multipart and message/rfc822 parts; deeper ones are opaque
   (RFC 2046 sets no limit; real mail rarely passes 10). */
#define MAIL_MAX_DEPTH 100
/* MIME parts in one message; past this the rest is left unparsed. */
#define MAIL_MAX_PARTS 5000
/* Longest multipart boundary we honour (RFC 2046 5.1.1: 70; some mailers
   exceed it a little). A longer one makes the multipart opaque. */
#define MAIL_MAX_BOUNDARY_LEN 200
/* Memory for one parse result's strings and parts; past it, further
   values are dropped, so memory stays bounded whatever the message. */
#define MAIL_MAX_PARSE_MEMORY (16 * 1024 * 1024)
/* Longest single stored header value (addresses, Content-* fields). */
#define MAIL_MAX_FIELD_VALUE (64 * 1024)
/* Parameters kept per Content-Type/Content-Disposition. */
#define MAIL_MAX_PARAMS 64
/* RFC 2231 continuation sections merged per parameter. */
#define MAIL_MAX_PARAM_SECTIONS 100
/* Addresses kept per address header in the ENVELOPE. */
#define MAIL_MAX_ADDRESSES 1000
/* RFC 8970: a preview is at most 200 characters (not bytes). */
#define MAIL_PREVIEW_MAX_CHARS 200
/* Longest IMAP string we send quoted; longer ones go as literals. */
#define IMAP_MAX_QUOTED_LEN 1024

/* IMAP command parsing (src/imap/imap-parser.c). "_PREAUTH" variants apply
   until the client has logged in; an anonymous peer gets far less. */
/* Longest command line between literals (RFC 7162 3: clients may send
   8192 octets; long UID sets from resyncing clients need more). */
#define IMAP_MAX_LINE (64 * 1024)
/* Before login: LOGIN, AUTHENTICATE with SASL-IR (base64 of SASL_MAX_INPUT)
   and ID fit in this; the largest ID RFC 2971 3.3 allows (30 pairs of
   30- and 1024-octet strings) is about 32 KB. */
#define IMAP_MAX_LINE_PREAUTH (40 * 1024)
/* Most bytes of one command held in memory: all its lines plus in-memory
   literals (streamed APPEND data is not counted). */
#define IMAP_MAX_COMMAND_SIZE (1024 * 1024)
/* Before login, a whole command is small (user, password, SASL data, or
   the largest RFC 2971 ID, with room for a literal next to a full line). */
#define IMAP_MAX_COMMAND_SIZE_PREAUTH (48 * 1024)
/* Largest literal kept in memory (SEARCH text, mailbox names, flags);
   only APPEND data is streamed to a file instead. */
#define IMAP_MAX_LITERAL_MEM (64 * 1024)
/* Largest literal before login (a user name or password). */
#define IMAP_MAX_LITERAL_MEM_PREAUTH 4096
/* Largest non-synchronising literal when LITERAL- is advertised
   (RFC 7888 5). */
#define IMAP_LITERAL_MINUS_MAX 4096
/* Deepest list nesting in a command (SEARCH uses parentheses for
   grouping; real clients stay below 10). */
#define IMAP_MAX_LIST_DEPTH 32
/* List nesting before login (ID takes one level). */
#define IMAP_MAX_LIST_DEPTH_PREAUTH 4
/* Most arguments (atoms, strings, literals, lists) in one command: each
   costs far more memory than its bytes on the wire. */
#define IMAP_MAX_ARGS 65536
/* Before login no command needs more than a few (ID has 60 at most). */
#define IMAP_MAX_ARGS_PREAUTH 256
/* Most bytes of a refused non-synchronising literal we read and discard
   to keep the session going; past this the client is disconnected. */
#define IMAP_MAX_SKIP_LITERAL (64ULL * 1024 * 1024)
/* The same before login: an anonymous peer gets no such patience. */
#define IMAP_MAX_SKIP_LITERAL_PREAUTH (64 * 1024)
/* Default largest APPEND message ([imap] max_message_size). */
#define IMAP_DEFAULT_MAX_MESSAGE_SIZE (64ULL * 1024 * 1024)


/* IMAP session timeouts (RFC 9051 5.4: at least 30 minutes once logged
   in; an anonymous client gets a minute to log in). */
#define IMAP_PREAUTH_TIMEOUT_SECS 60
#define IMAP_IDLE_TIMEOUT_SECS (30 * 60)
/* A FETCH body part larger than this is decoded (BINARY) only up to it:
   decoding happens in memory. */
#define IMAP_MAX_BINARY_DECODED (64ULL * 1024 * 1024)
/* Patterns in one LIST-EXTENDED command: each is matched against every
   mailbox name. */
#define IMAP_MAX_LIST_PATTERNS 32

/* SEARCH (src/search). */
/* Longest header field name a SEARCH HEADER key may name (RFC 5322 sets
   no limit; real names are short words). */
#define SEARCH_MAX_HEADER_NAME 256

/* SORT and THREAD (src/search/sort.h, thread.h). */
/* Keys in one SORT criteria list: there are nine kinds, and a repeat
   changes nothing. */
#define SORT_MAX_CRITERIA 16
/* Header bytes read per message for its sort or thread keys: the
   fields they need come first in practice, and the rest is not read. */
#define SORT_MAX_HEADER (256 * 1024)
/* msg-ids of one References: field kept for THREAD (the last ones, the
   closest ancestors); every link is checked against loops by walking
   up the tree, so a longer list costs quadratic time. */
#define THREAD_MAX_REFERENCES 256

/* Worker threads per core when [server] workers = 0. A durable commit
   (fsync) blocks its worker's event loop while the disk syncs; with
   several workers per core other sessions run meanwhile. With 50 IMAP
   sessions committing on a busy disk, 4 per core doubled commands/s and
   halved p99 against 1 per core (see BENCHMARKS.md). 16 per core: when
   each sync took 0.3 ms longer (a shim delaying fsync), the IMAP mix
   went from about 6,500 commands/s with 8 workers to 10,000 with 32 on
   two cores, and on the plain disk 32 beat 8 in three alternating runs
   of three; a worker (with its blocking-job thread) costs about 25 KB
   of memory. */
#define WORKERS_PER_CORE 16

/* quired's malloc trim threshold (daemon/main.c): free memory a thread's
   heap keeps at its top before giving pages back to the kernel. With up
   to 8 heaps per core (glibc's arena limit) that bounds what is kept
   unused at 8 MiB per core. */
#define DAEMON_TRIM_THRESHOLD (1024 * 1024)

/* METADATA (RFC 5464, src/store/store-metadata.c, cmd-metadata.c). */
/* Longest entry name: names are short paths; this keeps every key and
   response line small. */
#define METADATA_MAX_ENTRY_NAME 1024
/* Largest value of one entry (NO [METADATA MAXSIZE n]): entries are
   comments and small client settings, and a value arrives as an
   in-memory literal, so it must stay well below IMAP_MAX_LITERAL_MEM. */
#define METADATA_MAX_VALUE_SIZE (16 * 1024)
/* Entries per mailbox, the server's own counting as one mailbox
   (NO [METADATA TOOMANY] past it). */
#define METADATA_MAX_ENTRIES 128
/* Names and values of all of one user's entries together: bounds the
   store and the largest GETMETADATA response. */
#define METADATA_MAX_USER_SIZE (1024 * 1024)
/* Entry names in one GETMETADATA, or entry/value pairs in one
   SETMETADATA: each costs a store lookup. */
#define METADATA_MAX_COMMAND_ENTRIES 256

/* NOTIFY (RFC 5465, src/imap/imap-notify*.c). */
/* Event groups in one NOTIFY SET: each is checked against every change
   of the user's mailboxes. */
#define IMAP_NOTIFY_MAX_GROUPS 32
/* Mailbox names over all SUBTREE / MAILBOXES groups of one NOTIFY SET:
   each is compared with the changed mailbox's name. */
#define IMAP_NOTIFY_MAX_NAMES 256
/* Changes queued for one session that has not written them yet (a
   command runs, or the client does not read): past it the session gets
   NOTIFICATIONOVERFLOW and NOTIFY NONE (RFC 5465 5.8). Changes of one
   mailbox share one entry, so only many mailboxes or names fill it. */
#define IMAP_NOTIFY_QUEUE_MAX 256

/* COMPRESS=DEFLATE (src/net/net-deflate.c): the deflater lives as long
   as the session, so it trades a little ratio for memory. */
/* Window 2^12 (zlib default 2^15): with NET_DEFLATE_MEM_LEVEL about
   32 KiB per session instead of 256 KiB; text compresses to ~31% instead
   of ~26%, IMAP responses the same. */
#define NET_DEFLATE_WINDOW_BITS 12
/* Hash table size (zlib default 8): see NET_DEFLATE_WINDOW_BITS. */
#define NET_DEFLATE_MEM_LEVEL 5
/* zlib's default level: the sizes above matter more than CPU here. */
#define NET_DEFLATE_LEVEL 6

/* Full-text index (src/search/search-fts.h). */
/* Folded text kept in one message's index row (all columns together):
   past it the row is cut and marked incomplete, and SEARCH reads that
   message's file whenever the index did not find the string in it. */
#define FTS_MAX_TEXT (2 * 1024 * 1024)
/* Trigrams of one search string put in an index query: any subset
   finds every candidate (each is checked against the stored text), and
   more only make the query slower. */
#define FTS_MAX_QUERY_TRIGRAMS 32
/* Messages whose index rows `quire reindex` writes in one transaction:
   few commits (each syncs the WAL), yet short write locks. */
#define FTS_REINDEX_BATCH 64
/* Messages a SEARCH has left to read below which it reads them rather
   than ask the index: one index query costs about that much. */
#define FTS_MIN_CANDIDATES 4
/* Shared mailbox views (src/store/store-view.c). */
/* Recent flag-change records kept per shared view, so a woken session
   finds what changed without a scan; one behind by more falls back to
   scanning the view (a STORE on more messages than this does that). */
#define STORE_VIEW_RING_MAX 4096
/* Views kept in memory after their last session closed them, so the
   next SELECT need not reload the mailbox: per user, and entries (about
   64 bytes each) over the whole process: 32 MiB at most. */
#define STORE_VIEW_CACHE_PER_USER 4
#define STORE_VIEW_CACHE_ENTRIES (512 * 1024)

/* THREADID (RFC 8474 5.2, src/store: threads_msgid). */
/* References of a saved message looked up and recorded (the last ones,
   nearest parent first): bounds the work and the rows one save adds. */
#define THREADID_MAX_REFERENCES 20
/* A msg-id longer than this (normalised, bytes) is neither looked up nor
   recorded: real ones are far shorter, and rows stay small. */
#define THREADID_MAX_MSGID 250

/* The background indexer (daemon/main.c): it looks for work every
   FTS_INDEX_INTERVAL_SECS, writes up to FTS_INDEX_BATCH rows of one user
   before moving to the next, and gives the main thread back after about
   FTS_INDEX_TURN_MSECS; a user with work left waits for the next turn,
   which follows at once while work is due.
   Small batches keep each write transaction (which holds the user's
   lock) short. */
#define FTS_INDEX_INTERVAL_SECS 1
/* A user's new messages are indexed once its first unindexed change is
   this old: the work comes in larger batches, and a message removed
   within seconds (a draft saved again, mail a client filters away at
   once, a test message) is never indexed nor its row removed. SEARCH
   reads messages without a row, so answers do not wait for it. */
#define FTS_INDEX_DELAY_SECS 10
#define FTS_INDEX_BATCH 500
#define FTS_INDEX_TURN_MSECS 900
/* Rows per write transaction of the background indexer: the user's lock
   is held while they are written (a few ms each), so sessions of that
   user wait at most a few tens of ms. */
#define FTS_INDEX_TXN_ROWS 8
/* The nice value of the daemon's main thread, which runs the indexer
   (and the hourly POP3 sweep, and the queued unlinks of removed
   messages' files), once the workers have started: after a
   burst of deliveries the index catches up on CPU the sessions leave,
   instead of taking half of it from them. Not 19: a turn holds one
   user's lock for a few ms of its CPU, and at weight 110 against a busy
   worker's 1024 that stays under a few hundred ms. */
#define FTS_INDEX_NICE 10

/* Garbage of the full-text index (rows of messages that went) is
   deleted row by row, each delete as dear as writing the row, unless no
   live row remains (a mailbox drained over POP3) or at most
   FTS_GC_COPY_ROWS do against FTS_GC_COPY_MIN_GARBAGE garbage rows: then
   the live rows are copied into a fresh table and the old one dropped.
   The copy holds the user's lock about as long as one indexing
   transaction; the new table is a schema change, after which every
   statement of that user's connection is prepared again, so it is not
   worth it for a few garbage rows. */
#define FTS_GC_COPY_ROWS 16
#define FTS_GC_COPY_MIN_GARBAGE 64

/* Files of removed messages queued for the daemon's main thread (store.h
   "deferred unlinks") at most; beyond, the removing call unlinks its
   own (8 MB of names). */
#define STORE_UNLINK_QUEUE_MAX 350000

/* Ghosts (store-view.c): a removed message's file is kept while another
   session's view may still show the message, for at most
   STORE_GHOST_SECS and STORE_GHOST_MAX files per user (the oldest go
   first); past that, a FETCH of it answers NO [EXPUNGEISSUED]. */
#define STORE_GHOST_SECS 300
#define STORE_GHOST_MAX 4096

/* Spare files (store.h "spare files"): a removed message's file of at
   most STORE_SPARE_FILE_MAX bytes on disk is kept for the next save, up
   to STORE_SPARE_COUNT files and STORE_SPARE_BYTES bytes in all; spares
   not taken for STORE_SPARE_IDLE_SECS are removed. */
#define STORE_SPARE_FILE_MAX (256 * 1024)
#define STORE_SPARE_COUNT 2048
#define STORE_SPARE_BYTES (64 * 1024 * 1024)
#define STORE_SPARE_IDLE_SECS 300
/* A removal of at most this many files keeps them as spares at once, in
   the removing call (a rename each); larger ones wait for the daemon's
   main thread with the unlinks. */
#define STORE_SPARE_INLINE 8

/* Message journal (store.h): messages up to this size are written into
   their commit and their files synced later, all at once. Larger ones
   are synced before their commit: their data is most of the work
   anyway, and the database's log would take it twice. */
#define STORE_JOURNAL_MAX (64 * 1024)

/* A user's message files spread over as many of the 256 blobs/<xx>
   directories as keep about this many files in each (store-sqlite.c
   blob_dir_count): a new user's all go to blobs/00. */
#define STORE_BLOB_DIR_FILES 256

/* A user no session or delivery has used for this long gets its SQLite
   page cache (up to 1 MiB) freed; at most the store's idle users (64)
   keep theirs until then. */
#define STORE_IDLE_TRIM_SECS 30

#endif
