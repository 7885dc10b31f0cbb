using System.Diagnostics;
using System.Text;

namespace AssocConv.Tests.Distributed;

/// <summary>The command line under <c>mpirun --allow-run-as-root --oversubscribe -np 2</c>, one thread per rank, as
/// CI runs it on one machine.</summary>
internal static class TwoRanks
{
    private static ProcessStartInfo Info(string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "AssocConv.Cli.dll");
        var info = new ProcessStartInfo("mpirun",
            ["--allow-run-as-root", "--oversubscribe", "-np", "2", "dotnet", dll, .. args, "--threads", "1"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // mpirun gives the ranks a pseudo-terminal, and .NET would then write a terminal mode sequence into stdout
        info.Environment["TERM"] = "dumb";
        return info;
    }

    /// <summary>Runs to the end, asserting success; returns the ranks' stdout (rank 0 alone prints) and
    /// stderr.</summary>
    public static (string Out, string Err) Run(params string[] args) =>
        TestSupport.RunProcess(Info(args), TimeSpan.FromMinutes(3));

    /// <summary>Starts mpirun and collects what it prints, for a test that signals or kills it.</summary>
    public static Launched Start(params string[] args) => new(Process.Start(Info(args))!);

    /// <summary>The process id of rank <paramref name="rank"/> of the job whose command line holds <paramref
    /// name="marker"/> (e.g. its run folder), or null once it is gone. Read from /proc, not from our code.</summary>
    public static int? RankProcess(int rank, string marker)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (!command.Contains("AssocConv.Cli.dll") || !command.Contains(marker)) continue;
                var environment = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (environment.Contains($"OMPI_COMM_WORLD_RANK={rank}")) return pid;
            }
            catch (IOException) { }   // the process ended while being read
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    /// <summary>Waits (up to 2 minutes) until <paramref name="file"/> exists or the job has ended.</summary>
    public static void WaitFor(string file, Launched job)
    {
        var watch = Stopwatch.StartNew();
        while (!File.Exists(file) && !job.Process.HasExited && watch.Elapsed < TimeSpan.FromMinutes(2))
            Thread.Sleep(20);
    }

    /// <summary>A running mpirun and its output so far.</summary>
    public sealed class Launched : IDisposable
    {
        private readonly StringBuilder _output = new();

        public Launched(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        /// <summary>Everything mpirun and the ranks printed, both streams.</summary>
        public string Output
        {
            get { lock (_output) return _output.ToString(); }
        }

        private void Append(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
        }

        /// <summary>Waits up to <paramref name="timeout"/> for mpirun to end and, when it did, for its output to be read
        /// to the end: <c>Process.WaitForExit(TimeSpan)</c> alone returns before the last lines reach the
        /// handlers.</summary>
        public bool WaitForExit(TimeSpan timeout)
        {
            if (!Process.WaitForExit(timeout)) return false;
            Process.WaitForExit();
            return true;
        }

        /// <summary>Sends <paramref name="signal"/> (e.g. INT, what Ctrl+C sends) to mpirun.</summary>
        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", $"-{signal} {Process.Id}")!;
            kill.WaitForExit();
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.WaitForExit();
            Process.Dispose();
        }
    }
}
