/* tests/deploy/sandbox.c: runs a command under the seccomp part of
 * deploy/systemd/teamnotes.service, for machines where systemd is not PID 1 and so cannot
 * start the unit itself. Built and used by tests/deploy/systemd.sh only.
 *
 *   sandbox ALLOWLIST -- COMMAND [ARG...]
 *
 * ALLOWLIST holds one system call name a line: the expansion of the unit's
 * SystemCallFilter= (@system-service without @privileged and @resources, as
 * `systemd-analyze syscall-filter` lists them). Names this architecture does not know are
 * skipped, as systemd skips them. Then, as systemd does for the unit:
 *   - NoNewPrivileges (prctl PR_SET_NO_NEW_PRIVS);
 *   - SystemCallArchitectures=native: other ABIs are killed (libseccomp's default);
 *   - RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX: socket() of any other family
 *     fails with EAFNOSUPPORT;
 *   - MemoryDenyWriteExecute: mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect
 *     adding PROT_EXEC and shmat with SHM_EXEC are refused;
 * except that every call outside the list KILLS the process (SIGSYS) where the unit says
 * SystemCallErrorNumber=EPERM: a test must see a missing call, not an error the server
 * might swallow. Exits 2 on a setup error. */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

static int add_cond(scmp_filter_ctx ctx, uint32_t act, const char *name, unsigned n,
                    const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    return seccomp_rule_add_array(ctx, act, nr, n, cmp);
}

int main(int argc, char **argv)
{
    int rc = 2;
    FILE *f = NULL;
    scmp_filter_ctx ctx = NULL;
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: sandbox ALLOWLIST -- COMMAND [ARG...]\n");
        goto done;
    }
    f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        goto done;
    }
    ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx)
        goto done;
    /* the conditional ones first, so that their names are skipped in the list */
    static const char *const special[] = {"mmap", "mprotect", "pkey_mprotect", "shmat", "socket"};
    char line[128];
    unsigned allowed = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        bool skip = false;
        for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
            if (strcmp(line, special[i]) == 0)
                skip = true;
        if (skip)
            continue;
        int nr = seccomp_syscall_resolve_name(line);
        if (nr == __NR_SCMP_ERROR)
            continue;
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) {
            fprintf(stderr, "sandbox: cannot allow %s\n", line);
            goto done;
        }
        allowed++;
    }
    /* MemoryDenyWriteExecute */
    const uint64_t wx = PROT_WRITE | PROT_EXEC;
    struct scmp_arg_cmp mmap_ok[][1] = {
        {SCMP_A2(SCMP_CMP_MASKED_EQ, wx, 0)},
        {SCMP_A2(SCMP_CMP_MASKED_EQ, wx, PROT_WRITE)},
        {SCMP_A2(SCMP_CMP_MASKED_EQ, wx, PROT_EXEC)},
    };
    for (int i = 0; i < 3; i++)
        if (add_cond(ctx, SCMP_ACT_ALLOW, "mmap", 1, mmap_ok[i]) != 0)
            goto done;
    struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
    struct scmp_arg_cmp noshmexec = SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, 0);
    if (add_cond(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &noexec) != 0 ||
        add_cond(ctx, SCMP_ACT_ALLOW, "pkey_mprotect", 1, &noexec) != 0 ||
        add_cond(ctx, SCMP_ACT_ALLOW, "shmat", 1, &noshmexec) != 0)
        goto done;
    /* RestrictAddressFamilies */
    for (int fam = 0; fam < AF_MAX; fam++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fam);
        bool ok = fam == AF_INET || fam == AF_INET6 || fam == AF_UNIX;
        if (add_cond(ctx, ok ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &c) != 0)
            goto done;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("PR_SET_NO_NEW_PRIVS");
        goto done;
    }
    if (seccomp_load(ctx) != 0) {
        fprintf(stderr, "sandbox: seccomp_load failed (%u calls allowed)\n", allowed);
        goto done;
    }
    fclose(f);
    f = NULL;
    seccomp_release(ctx);
    ctx = NULL;
    execv(argv[3], argv + 3);
    perror(argv[3]);
done:
    if (f)
        fclose(f);
    seccomp_release(ctx);
    return rc;
}
