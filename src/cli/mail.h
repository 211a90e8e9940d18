/* teamnotes mail test ADDRESS: sends a test message through the configured delivery
 * (SMTP_URL, or the outbox), so an operator sees a setting work before anyone signs in. */
#ifndef TN_CLI_MAIL_H
#define TN_CLI_MAIL_H

/* Runs `teamnotes mail …`; returns the process exit status (0 sent, 1 not delivered,
 * 2 usage or configuration error). */
int tn_mail_cli_main(int argc, char **argv);

#endif
