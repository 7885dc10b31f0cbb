using System.Globalization;
using System.Text;

namespace AssocConv.Data;

/// <summary>
/// Text that comes from files and ends up on a terminal: class names in tables and predictions, names and paths in
/// messages. A control character there can move the cursor, rewrite the title or hide what follows (escape
/// sequences), and a bidirectional override can show a name other than the one stored; so class names holding them
/// are refused where they are read, and messages show them as escapes.
/// </summary>
public static class DisplayText
{
    /// <summary>The longest class name accepted: a file or folder name's limit on Linux (255 bytes).</summary>
    public const int MaxClassNameLength = 255;

    /// <summary>Whether <paramref name="c"/> changes what a terminal shows instead of being shown: a C0 or C1
    /// control character or a bidirectional embedding, override or isolate.</summary>
    public static bool IsUnsafe(char c) =>
        char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';

    /// <summary><paramref name="text"/> with every unsafe character written as <c>\uXXXX</c>, line breaks and tabs
    /// too unless <paramref name="keepLines"/>.</summary>
    public static string Printable(string text, bool keepLines = true)
    {
        bool Escaped(char c) => IsUnsafe(c) && !(keepLines && c is '\n' or '\t');
        if (!text.Any(Escaped)) return text;
        var result = new StringBuilder(text.Length + 16);
        foreach (char c in text)
            if (Escaped(c))
                result.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            else result.Append(c);
        return result.ToString();
    }

    /// <summary>Why <paramref name="names"/> cannot serve as class names (empty, too long, or holding an unsafe
    /// character), or null when they can.</summary>
    public static string? ClassNameProblem(IReadOnlyList<string?> names)
    {
        for (int i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (string.IsNullOrEmpty(name)) return $"class name {i} is empty";
            if (name.Length > MaxClassNameLength)
                return $"class name {i} has {name.Length:N0} characters (at most {MaxClassNameLength})";
            foreach (char c in name)
                if (IsUnsafe(c))
                    return $"class name {i} ('{Printable(name, keepLines: false)}') holds the control character " +
                        $"U+{(int)c:X4}";
        }
        return null;
    }
}
