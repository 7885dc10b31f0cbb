namespace AssocConv.Tests.Docs;

public class ReadmeExampleTests
{
    private static string Region()
    {
        var source = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(), "tests/AssocConv.Tests/Docs/ReadmeExample.cs"));
        int start = source.IndexOf("// <readme>", StringComparison.Ordinal);
        int end = source.IndexOf("// </readme>", StringComparison.Ordinal);
        var lines = source[start..end].Split('\n').Skip(1).Select(l => l.Length >= 8 ? l[8..] : l.TrimStart());
        return string.Join('\n', lines).TrimEnd();
    }

    [Fact]
    public void The_readme_quotes_the_example_exactly()
    {
        var readme = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(), "README.md")).Replace("\r\n", "\n");
        Assert.Contains(Region(), readme);
    }

    [Fact]
    public void The_example_trains_an_associative_model()
    {
        var (first, last, ratio) = ReadmeExample.Run();
        Assert.True(last < first * 0.5, $"loss {first} -> {last}");
        Assert.True(ratio > 2.5, $"ratio {ratio}");
    }
}
