namespace AssocConv.Cli;

/// <summary>The exit codes every verb uses.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int BadInput = 2;
    /// <summary>Stopped by Ctrl+C after saving its state (the shell's convention for SIGINT).</summary>
    public const int Interrupted = 130;
}
