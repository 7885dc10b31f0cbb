namespace AssocConv.Data;

/// <summary>A dataset file is missing, malformed or inconsistent; the message names the file and the problem.</summary>
public sealed class DataFormatException : Exception
{
    /// <summary>The file (or folder) at fault.</summary>
    public string Path { get; }

    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public DataFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner) => Path = path;
}
