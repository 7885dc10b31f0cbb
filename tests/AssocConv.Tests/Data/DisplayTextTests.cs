using AssocConv.Data;

namespace AssocConv.Tests.Data;

public class DisplayTextTests
{
    [Theory]
    [InlineData("\u001b[2J", @"\u001B[2J")]                    // ESC: erase the screen
    [InlineData("bell\u0007", @"bell\u0007")]
    [InlineData("\u009b31m", @"\u009B31m")]                     // C1 control sequence introducer
    [InlineData("\u202Egnp.exe", @"\u202Egnp.exe")]             // right-to-left override
    [InlineData("a\u2066b\u2069", @"a\u2066b\u2069")]           // isolates
    [InlineData("line\r", @"line\u000D")]
    [InlineData("two\nlines\tand a tab", "two\nlines\tand a tab")]
    [InlineData("Zürich, 猫, 🐈‍⬛, [bold]", "Zürich, 猫, 🐈‍⬛, [bold]")]   // text, also joined emoji: unchanged
    public void Printable_writes_what_a_terminal_would_act_on_as_escapes(string text, string expected)
    {
        Assert.Equal(expected, DisplayText.Printable(text));
    }

    [Fact]
    public void Printable_can_escape_line_breaks_too()
    {
        Assert.Equal(@"two\u000Alines\u0009tab", DisplayText.Printable("two\nlines\ttab", keepLines: false));
    }

    [Fact]
    public void Class_names_are_refused_when_empty_too_long_or_holding_a_control_character()
    {
        Assert.Null(DisplayText.ClassNameProblem(["T-shirt/top", "Zürich", "猫", new string('x', 255)]));
        Assert.Equal("class name 1 has 256 characters (at most 255)",
            DisplayText.ClassNameProblem(["cat", new string('x', 256)]));
        Assert.Equal("class name 0 is empty", DisplayText.ClassNameProblem([""]));
        Assert.Equal("class name 0 is empty", DisplayText.ClassNameProblem([null]));
        Assert.Equal(@"class name 1 ('dog\u000Acat') holds the control character U+000A",
            DisplayText.ClassNameProblem(["cat", "dog\ncat"]));
        Assert.Equal(@"class name 0 ('\u2067x') holds the control character U+2067",
            DisplayText.ClassNameProblem(["\u2067x"]));
    }
}
