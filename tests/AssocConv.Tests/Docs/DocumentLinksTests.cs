using System.Text.RegularExpressions;

namespace AssocConv.Tests.Docs;

/// <summary>Every relative link of the README and docs/ reaches a file, and its #anchor a heading there (as GitHub
/// names them), so moving a section cannot leave a reader at a dead link.</summary>
public class DocumentLinksTests
{
    // GitHub's anchor of a heading: lower case, punctuation other than '-' and '_' dropped, spaces to '-'
    private static string Slug(string heading) =>
        Regex.Replace(heading.Trim().ToLowerInvariant(), @"[^\p{L}\p{N}\s_-]", "").Replace(' ', '-');

    private static HashSet<string> Anchors(string markdownPath) =>
        File.ReadAllLines(markdownPath).Where(l => l.StartsWith('#'))
            .Select(l => Slug(l.TrimStart('#'))).ToHashSet();

    public static TheoryData<string> Documents()
    {
        var root = TestSupport.RepositoryRoot();
        var data = new TheoryData<string>();
        data.Add("README.md");
        foreach (var file in Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order())
            data.Add(Path.GetRelativePath(root, file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Relative_links_reach_a_file_and_a_heading(string document)
    {
        var root = TestSupport.RepositoryRoot();
        var path = Path.Combine(root, document);
        var text = Regex.Replace(File.ReadAllText(path), "```.*?```", "", RegexOptions.Singleline);   // code blocks
        var dead = new List<string>();
        foreach (Match link in Regex.Matches(text, @"\]\(([^)\s]+)\)"))
        {
            var target = link.Groups[1].Value;
            if (target.Contains("://", StringComparison.Ordinal)) continue;   // the web is not checked here
            var parts = target.Split('#', 2);
            var file = parts[0].Length == 0 ? path
                : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, parts[0]));
            if (!File.Exists(file) && !Directory.Exists(file)) dead.Add($"{target}: no such file");
            else if (parts.Length == 2 && file.EndsWith(".md", StringComparison.Ordinal)
                && !Anchors(file).Contains(parts[1]))
                dead.Add($"{target}: no such heading");
        }
        Assert.True(dead.Count == 0, $"{document}: {string.Join("; ", dead)}");
    }
}
