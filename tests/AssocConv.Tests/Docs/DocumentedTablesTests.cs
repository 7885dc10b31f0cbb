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

    // the ablation's last column is arithmetic on the others: a row edited by hand could disagree with itself
    [Fact]
    public void The_ablation_table_differences_are_its_accuracies_minus_the_fast_recipes()
    {
        var rows = Rows("README.md", "ablation-table");
        static (double Plain, double Flip) Pair(string cell, string pattern)
        {
            var m = System.Text.RegularExpressions.Regex.Match(cell, pattern);
            Assert.True(m.Success, $"'{cell}' is not '{pattern}'");
            return (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
                double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        }
        const string Accuracies = @"^(\d+\.\d\d)% \((\d+\.\d\d)%\)",
            Differences = @"^([+-]\d\.\d\d) \(([+-]\d\.\d\d)\)";
        var fast = Pair(rows[0][2], Accuracies);
        var measured = rows.Skip(1).Where(r => r[2].EndsWith(')')).ToList();
        Assert.True(measured.Count >= 13, $"{measured.Count} measured rows");
        var gains = new List<double> { fast.Flip - fast.Plain };
        foreach (var row in measured)
        {
            var (plain, flip) = Pair(row[2], Accuracies);
            var (dPlain, dFlip) = Pair(row[3], Differences);
            Assert.Equal(Math.Round(plain - fast.Plain, 2), dPlain, 6);
            Assert.Equal(Math.Round(flip - fast.Flip, 2), dFlip, 6);
            gains.Add(flip - plain);
        }
        var flipRow = rows.Single(r => r[1] == "`--flip-test`");
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"+{gains.Min():F1} to +{gains.Max():F1}"),
            flipRow[3]);
    }
}
