namespace AssocConv.IO;

/// <summary>
/// Reads input files defensively: symbolic links are followed to their target, and only regular files with a
/// size are read, so a device (<c>/dev/zero</c>) cannot fill memory and a FIFO cannot block the reader; at most
/// the file's size is read.
/// </summary>
public static class RegularFile
{
    /// <summary>The file a path finally names, following symbolic links.</summary>
    /// <exception cref="FileNotFoundException">Nothing there, or a link to nothing.</exception>
    public static FileInfo Resolve(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"{path} is a directory, not a file");
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
        {
            info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo
                ?? throw new FileNotFoundException($"{path} is a link to {info.LinkTarget}, which does not exist",
                    path);
            if (!info.Exists) throw new FileNotFoundException($"{path} is a link to {info.FullName}, " +
                "which does not exist", path);
        }
        else if (!info.Exists) throw new FileNotFoundException($"no file at {path}", path);
        return info;
    }

    /// <summary>The size in bytes of the regular file <paramref name="path"/> names (after links).</summary>
    /// <exception cref="InvalidDataException">Empty, or not a regular file (devices and pipes report no
    /// size).</exception>
    public static long Length(string path) => Length(path, Resolve(path));

    private static long Length(string path, FileInfo resolved) =>
        resolved.Length > 0 ? resolved.Length : throw new InvalidDataException($"{path}: empty, or not a regular " +
            "file (a device or a pipe)");

    /// <summary>Reads the whole regular file, refusing one larger than <paramref name="maxBytes"/>.</summary>
    /// <exception cref="InvalidDataException">Empty, not a regular file, larger than allowed, or shorter than its size
    /// said.</exception>
    public static byte[] ReadAllBytes(string path, long maxBytes = long.MaxValue)
    {
        var info = Resolve(path);
        long length = Length(path, info);
        if (length > Math.Min(maxBytes, Array.MaxLength))
            throw new InvalidDataException($"{path}: {length:N0} bytes, more than the " +
                $"{Math.Min(maxBytes, Array.MaxLength):N0} that can be read");
        var bytes = new byte[length];
        using var stream = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        try
        {
            stream.ReadExactly(bytes);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path}: shrank while being read");
        }
        return bytes;
    }
}
