#ifndef QUIRE_IMAP_COMMANDS_H
#define QUIRE_IMAP_COMMANDS_H

#include "imap/imap-session.h"

/* The command table (imap-commands.c) and the handlers, one file per
   command family. See imap-session.h for the handler contract. */

/* Finds a command by name (ASCII case-insensitive), or NULL. */
const struct imap_command_def *imap_command_find(const char *name);

/* cmd-auth.c: any state / before login */
bool cmd_capability(struct imap_cmd *cmd);
bool cmd_noop(struct imap_cmd *cmd);
bool cmd_logout(struct imap_cmd *cmd);
bool cmd_starttls(struct imap_cmd *cmd);
bool cmd_login(struct imap_cmd *cmd);
bool cmd_authenticate(struct imap_cmd *cmd);
bool cmd_enable(struct imap_cmd *cmd);
bool cmd_id(struct imap_cmd *cmd);

/* cmd-mailbox.c */
bool cmd_select(struct imap_cmd *cmd);
bool cmd_examine(struct imap_cmd *cmd);
bool cmd_create(struct imap_cmd *cmd);
bool cmd_delete(struct imap_cmd *cmd);
bool cmd_rename(struct imap_cmd *cmd);
bool cmd_subscribe(struct imap_cmd *cmd);
bool cmd_unsubscribe(struct imap_cmd *cmd);
bool cmd_status(struct imap_cmd *cmd);
bool cmd_namespace(struct imap_cmd *cmd);
bool cmd_close(struct imap_cmd *cmd);
bool cmd_unselect(struct imap_cmd *cmd);
bool cmd_check(struct imap_cmd *cmd);

/* cmd-list.c */
bool cmd_list(struct imap_cmd *cmd);
bool cmd_lsub(struct imap_cmd *cmd);

/* cmd-append.c */
bool cmd_append(struct imap_cmd *cmd);

/* cmd-fetch.c */
bool cmd_fetch(struct imap_cmd *cmd);

/* cmd-store.c */
bool cmd_store(struct imap_cmd *cmd);

/* cmd-copy.c */
bool cmd_copy(struct imap_cmd *cmd);
bool cmd_move(struct imap_cmd *cmd);

/* cmd-expunge.c */
bool cmd_expunge(struct imap_cmd *cmd);

/* cmd-idle.c */
bool cmd_idle(struct imap_cmd *cmd);

/* cmd-search.c (the search module's) */
bool cmd_search(struct imap_cmd *cmd);

#endif
