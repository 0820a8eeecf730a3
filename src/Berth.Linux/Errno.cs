namespace Berth.Linux;

/// <summary>The errno values the code reacts to by value.</summary>
public static class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EAGAIN = 11, ENOMEM = 12, EBUSY = 16,
        EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOSPC = 28, EADDRINUSE = 98, ENOBUFS = 105, ENOTSUP = 95,
        ENOTDIR = 20, EISDIR = 21, ELOOP = 40, EXDEV = 18, EDQUOT = 122, ENOTEMPTY = 39, EROFS = 30, EACCES = 13;
}
