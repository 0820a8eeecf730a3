using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>A path inside a rooted directory could not be used safely: a component is a symlink or not a directory,
/// or a name would climb out.</summary>
public sealed class UnsafePathException(string message) : Exception(message);

/// <summary>A directory held open by fd, under which every path is resolved by the kernel relative to that fd, never
/// as a string: writers descend component by component with O_NOFOLLOW|O_DIRECTORY (a symlink on the way is refused),
/// readers use openat2 with RESOLVE_IN_ROOT (symlinks, "..", absolute names all stay inside).</summary>
public sealed class RootedDirectory : IDisposable
{
    private const int DirectoryFlags = Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW;

    private RootedDirectory(SafeFileHandle handle, string path)
    {
        Handle = handle;
        Path = path;
    }

    /// <summary>The root's fd; every operation of this type is relative to it.</summary>
    public SafeFileHandle Handle { get; }

    /// <summary>The path the root was opened by (for messages only).</summary>
    public string Path { get; }

    /// <summary>A directory already held open (found inside another root) as a root of its own; takes the handle.</summary>
    public static RootedDirectory FromHandle(SafeFileHandle handle, string path) => new(handle, path);

    /// <summary>Opens <paramref name="path"/>, which the engine chose (trusted), as a root.</summary>
    public static RootedDirectory Open(string path) =>
        new(Interop.Open(path, Interop.O_RDONLY | Interop.O_DIRECTORY), path);

    /// <summary>The directory at <paramref name="relative"/> ("a/b", "" for the root), every component a real
    /// directory: missing ones are created with <paramref name="createMode"/> when it is given. A symlink or other
    /// node on the way is an <see cref="UnsafePathException"/>; a missing one without createMode too.</summary>
    public SafeFileHandle OpenDirectory(string relative, int? createMode = null)
    {
        var current = Interop.OpenAt(Handle, ".", DirectoryFlags);
        if (relative.Length == 0) return current;
        string walked = "";
        try
        {
            foreach (string part in relative.Split('/'))
            {
                CheckName(part, relative);
                walked = walked.Length == 0 ? part : walked + "/" + part;
                var next = OpenChildDirectory(current, part, walked, createMode);
                current.Dispose();
                current = next;
            }
            return current;
        }
        catch
        {
            current.Dispose();
            throw;
        }
    }

    private static SafeFileHandle OpenChildDirectory(SafeFileHandle parent, string name, string walked, int? createMode)
    {
        try { return Interop.OpenAt(parent, name, DirectoryFlags); }
        catch (LinuxException e) when (e.Errno == Errno.ENOENT && createMode is int mode)
        {
            try { Interop.MkdirAt(parent, name, mode); }
            catch (LinuxException again) when (again.Errno == Errno.EEXIST) { }
            return OpenChildDirectory(parent, name, walked, null);
        }
        catch (LinuxException e) when (e.Errno is Errno.ELOOP or Errno.ENOTDIR or Errno.ENOENT)
        {
            var info = Interop.StatAt(parent, name);
            throw new UnsafePathException(info switch
            {
                null => $"/{walked} does not exist",
                { IsSymlink: true } => $"/{walked} is a symlink",
                _ => $"/{walked} is not a directory",
            });
        }
    }

    /// <summary>Opens <paramref name="path"/> as the kernel resolves it with this directory as "/" (openat2
    /// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): what a symlink inside points to is looked up inside too.</summary>
    public SafeFileHandle OpenInRoot(string path, int flags) =>
        Interop.OpenAt2(Handle, path, flags, Interop.RESOLVE_IN_ROOT | Interop.RESOLVE_NO_MAGICLINKS);

    /// <summary>Removes <paramref name="name"/> from <paramref name="parent"/>, a directory with everything below it;
    /// symlinks are removed, never followed. Nothing there is not an error.</summary>
    public static void RemoveEntry(SafeFileHandle parent, string name)
    {
        var info = Interop.StatAt(parent, name);
        if (info is null) return;
        if (info.Value.IsDirectory)
        {
            using (var child = Interop.OpenAt(parent, name, DirectoryFlags))
                foreach (string entry in ListNames(child)) RemoveEntry(child, entry);
            Interop.UnlinkAt(parent, name, directory: true);
        }
        else Interop.UnlinkAt(parent, name, directory: false);
    }

    /// <summary>Removes the tree at <paramref name="path"/> (an engine-made path) without following any symlink
    /// in it.</summary>
    public static void RemoveTree(string path)
    {
        string full = System.IO.Path.GetFullPath(path).TrimEnd('/');
        using var parent = Interop.Open(System.IO.Path.GetDirectoryName(full)!, Interop.O_RDONLY | Interop.O_DIRECTORY);
        RemoveEntry(parent, System.IO.Path.GetFileName(full));
    }

    /// <summary>The names in an open directory, read through the fd's /proc link (bound to the fd, not a
    /// path).</summary>
    public static List<string> ListNames(SafeFileHandle directory) =>
        Directory.EnumerateFileSystemEntries(ProcPath(directory))
            .Select(System.IO.Path.GetFileName).OfType<string>().ToList();

    /// <summary>"/proc/self/fd/N[/name]": the kernel resolves the fd part to the very directory held open, and
    /// <paramref name="name"/> (one component) inside it; for calls that only exist with a path (lsetxattr).</summary>
    public static string ProcPath(SafeFileHandle directory, string? name = null) =>
        $"/proc/self/fd/{directory.DangerousGetHandle()}" + (name is null ? "" : "/" + name);

    /// <summary>One path component: not empty, ".", ".." and without '/'.</summary>
    public static void CheckName(string name, string context)
    {
        if (name is "" or "." or ".." || name.Contains('/') || name.Contains('\0'))
            throw new UnsafePathException($"{context}: \"{name}\" is not a valid name");
    }

    public void Dispose() => Handle.Dispose();
}
