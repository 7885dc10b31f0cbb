using System.CommandLine;

namespace AssocConv.Cli;

/// <summary>"Did you mean" for a mistyped verb or option: the closest name the command knows.</summary>
internal static class Suggestions
{
    /// <summary>The name of <paramref name="command"/>'s verbs and options closest to <paramref name="typed"/>, if
    /// close enough.</summary>
    public static string? Closest(Command command, string typed)
    {
        var names = command.Subcommands.SelectMany(c => c.Aliases.Prepend(c.Name))
            .Concat(command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)))
            .Concat(command.Parents.OfType<Command>().SelectMany(p =>
                p.Options.Where(o => o.Recursive).Select(o => o.Name)));
        // within a third of the word's length, so short typos match and unrelated words do not
        int allowed = Math.Max(1, typed.Length / 3);
        return names.Select(n => (Name: n, Distance: Distance(typed.ToLowerInvariant(), n)))
            .Where(c => c.Distance <= allowed)
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => c.Name).FirstOrDefault();
    }

    // edits between two names, a swap of neighbours counting as one (optimal string alignment)
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1),
                    d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] =
                    Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
