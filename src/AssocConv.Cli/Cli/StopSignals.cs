using System.Runtime.InteropServices;
using AssocConv.Distributed;

namespace AssocConv.Cli;

/// <summary>
/// Ctrl+C and SIGTERM for the whole life of a training verb: the first asks it to save and stop (a training after its
/// batch; compare and reproduce also before their next run, so a signal between two runs still ends with the line
/// saying how to go on), a second ends the process at once.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly Terminal _term;
    private readonly ConsoleCancelEventHandler _onCtrlC;
    private readonly PosixSignalRegistration? _onSigterm;
    private readonly bool _severalRuns;

    /// <param name="severalRuns">Whether the verb trains one run after another (compare, reproduce).</param>
    public StopSignals(Terminal term, bool severalRuns = false)
    {
        (_term, _severalRuns) = (term, severalRuns);
        _onCtrlC = (_, e) =>
        {
            if (Requested) return;   // a second Ctrl+C ends the process at once
            e.Cancel = true;
            Signal(PosixSignal.SIGINT);
        };
        Console.CancelKeyPress += _onCtrlC;
        // A run in the background (nohup, a batch scheduler, systemd) is stopped with SIGTERM, and a shell starts
        // background jobs with SIGINT ignored: SIGTERM saves the run too.
        try
        {
            _onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                if (Requested) return;   // a second SIGTERM ends the process at once
                context.Cancel = true;
                Signal(PosixSignal.SIGTERM);
            });
        }
        catch (PlatformNotSupportedException)
        {
            _onSigterm = null;
        }
    }

    public CancellationToken Token => _cancel.Token;

    public bool Requested => _cancel.IsCancellationRequested;

    /// <summary>What the first Ctrl+C (SIGINT) or SIGTERM does: stops, saying what is saved.</summary>
    public void Signal(PosixSignal signal)
    {
        bool sigterm = signal == PosixSignal.SIGTERM;
        string what;
        // compare and reproduce may be between two runs (or loading data): then no batch is pending
        if (_severalRuns) what = "saving the run training now, if any, after this batch, and starting no other run";
        // under mpirun (train's) a rank that died sends the others SIGTERM too; they cannot save without it
        else if (sigterm && MpiWorld.LaunchedSize is > 1)
            what = "saving the run after this batch if every rank reaches it (if one died, the last checkpoint " +
                "stays whole)";
        else what = "saving the run after this batch";
        _cancel.Cancel();
        _term.Error.WriteLine(sigterm ? $"stopping on SIGTERM: {what}"
            : $"stopping: {what} (Ctrl+C again to quit at once)");
    }

    /// <summary>How to go on after compare or reproduce (<paramref name="verb"/>) stopped, and the run folder it will
    /// resume, if one was saved midway.</summary>
    public static string RerunAdvice(string verb, string? resumes) =>
        $"continue with the same assocconv {verb} command: it " + (resumes is null ? "" : $"resumes {resumes}, ") +
            "reads finished runs back and trains the rest";

    public void Dispose()
    {
        Console.CancelKeyPress -= _onCtrlC;
        _onSigterm?.Dispose();
        _cancel.Dispose();
    }
}
