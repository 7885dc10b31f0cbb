namespace AssocConv.Cli;

/// <summary>A mistake in what the user asked for: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
