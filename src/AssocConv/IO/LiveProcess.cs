namespace AssocConv.IO;

/// <summary>Whether the process that named a temporary file or folder is still running (so it is not removed under
/// it).</summary>
internal static class LiveProcess
{
    public static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }
}
