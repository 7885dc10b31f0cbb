using System.Globalization;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Tests.Docs;

/// <summary>The documents' parameter tables are recomputed, so they cannot drift from the code.</summary>
public class DocumentedTablesTests
{
    private static List<string[]> Rows(string document, string marker)
    {
        var readme = File.ReadAllText(Path.Combine(TestSupport.RepositoryRoot(), document));
        int start = readme.IndexOf($"<!-- {marker} -->", StringComparison.Ordinal);
        int end = readme.IndexOf($"<!-- /{marker} -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"table {marker} not found");
        return readme[start..end].Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Skip(1)
            .Select(l => l.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
    }

    private static long Count(string name, ModelOptions options)
    {
        using var model = ModelZoo.Create(name, options);
        return ParameterReport.Of(model).Trainable;
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
    private static string Ratio(long plain, long associative) => ((double)plain / associative).ToString("F2",
        CultureInfo.InvariantCulture) + "x";

    [Fact]
    public void The_depth_table_is_what_the_code_computes()
    {
        var rows = Rows("docs/design.md", "depth-table");
        Assert.Equal(14, rows.Count);
        foreach (var row in rows)
        {
            string name = row[0];
            long plain = Count(name, new ModelOptions { Plain = true });
            long associative = Count(name, new ModelOptions());
            long all = Count(name, new ModelOptions { Selection = AssociativeSelection.All });
            Assert.Equal(new[] { name, N(plain), N(associative), Ratio(plain, associative), N(all), Ratio(plain, all) },
                row);
        }
    }
}
