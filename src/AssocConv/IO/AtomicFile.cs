using System.Text;
using System.Text.RegularExpressions;

namespace AssocConv.IO;

/// <summary>Writes files so that readers see the old content or the new, never a part.</summary>
public static class AtomicFile
{
    /// <summary>Writes through <paramref name="write"/> to a temporary file beside <paramref name="path"/>, flushes it
    /// to disk, and renames it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Environment.ProcessId}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Deletes the temporary files a killed process left in <paramref name="directory"/> (<c>NAME.PID.tmp</c>, also
    /// with an
    /// extension after it); those of running processes are left alone. Returns how many were deleted.
    /// </summary>
    public static int RemoveAbandoned(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        int removed = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*.tmp*"))
        {
            var match = Regex.Match(Path.GetFileName(file), @"\.(\d+)\.tmp(\.\w+)?$");
            if (!match.Success || !int.TryParse(match.Groups[1].Value,
                out int pid) || LiveProcess.IsRunning(pid)) continue;
            try
            {
                File.Delete(file);
                removed++;
            }
            catch (IOException) { }
        }
        return removed;
    }

    /// <summary>Writes <paramref name="text"/> atomically.</summary>
    public static void WriteText(string path, string text) => Write(path, s => s.Write(Encoding.UTF8.GetBytes(text)));
}
