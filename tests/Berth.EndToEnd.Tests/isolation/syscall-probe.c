/* syscall-probe: makes one system call that Docker's default seccomp profile refuses and reports the answer.
 * Built with `gcc -static` by IsolationTests into the test image (busybox has no keyctl applet).
 *   syscall-probe keyctl   keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create)
 *   syscall-probe userns   unshare(CLONE_NEWUSER)
 * Prints "ok" and exits 0 when the call succeeds, else prints the errno's name and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long result;
    if (argc != 2) {
        fprintf(stderr, "usage: syscall-probe keyctl|userns\n");
        return 2;
    }
    if (strcmp(argv[1], "keyctl") == 0)
        result = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 1);
    else if (strcmp(argv[1], "userns") == 0)
        result = unshare(CLONE_NEWUSER);
    else {
        fprintf(stderr, "unknown probe %s\n", argv[1]);
        return 2;
    }
    if (result < 0) {
        int error = errno;
        printf("%s\n", error == EPERM ? "EPERM" : error == ENOSYS ? "ENOSYS" : strerror(error));
        return 1;
    }
    printf("ok\n");
    return 0;
}
