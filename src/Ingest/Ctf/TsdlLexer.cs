using System.Diagnostics.CodeAnalysis;
using Pipeline.Storage;

namespace Pipeline.Ingest.Ctf;

/// <summary>Kinds of TSDL tokens.</summary>
internal enum TsdlTokenKind
{
    End,
    Identifier,
    Number,
    String,
    Punct,
}

/// <summary>One TSDL token with the 1-based line it starts on.</summary>
internal readonly record struct TsdlToken(TsdlTokenKind Kind, string Text, int Line)
{
    public bool Is(string punct) => Kind == TsdlTokenKind.Punct && Text == punct;

    public override string ToString() => Kind == TsdlTokenKind.End ? "end of metadata" : $"'{Text}'";
}

/// <summary>Splits TSDL text (CTF 1.8 §7) into tokens; comments are dropped.</summary>
internal static class TsdlLexer
{
    public static List<TsdlToken> Tokenize(string text, string fileName)
    {
        var tokens = new List<TsdlToken>(text.Length / 6);
        int line = 1;
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '\n')
            {
                line++;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c) || c == '\0')
            {
                i++;
                continue;
            }
            if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                int end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    Fail(fileName, line, "an unterminated /* comment");
                }
                line += CountNewlines(text.AsSpan(i, end - i));
                i = end + 2;
                continue;
            }
            if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }
                continue;
            }
            int start = i;
            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
                {
                    i++;
                }
                tokens.Add(new TsdlToken(TsdlTokenKind.Identifier, text[start..i], line));
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i])))
                {
                    i++;
                }
                tokens.Add(new TsdlToken(TsdlTokenKind.Number, text[start..i], line));
                continue;
            }
            if (c == '"')
            {
                i++;
                var sb = new System.Text.StringBuilder();
                while (i < text.Length && text[i] != '"')
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }
                    if (text[i] == '\n')
                    {
                        line++;
                    }
                    sb.Append(text[i]);
                    i++;
                }
                if (i >= text.Length)
                {
                    Fail(fileName, line, "an unterminated string literal");
                }
                i++;
                tokens.Add(new TsdlToken(TsdlTokenKind.String, sb.ToString(), line));
                continue;
            }
            if (c == ':' && i + 1 < text.Length && text[i + 1] == '=')
            {
                tokens.Add(new TsdlToken(TsdlTokenKind.Punct, ":=", line));
                i += 2;
                continue;
            }
            if (c == '.' && i + 2 < text.Length && text[i + 1] == '.' && text[i + 2] == '.')
            {
                tokens.Add(new TsdlToken(TsdlTokenKind.Punct, "...", line));
                i += 3;
                continue;
            }
            if ("{}()[]<>;=,.:-+*".Contains(c, StringComparison.Ordinal))
            {
                tokens.Add(new TsdlToken(TsdlTokenKind.Punct, c.ToString(), line));
                i++;
                continue;
            }
            Fail(fileName, line, $"an unexpected character U+{(int)c:X4}");
        }
        tokens.Add(new TsdlToken(TsdlTokenKind.End, "", line));
        return tokens;
    }

    private static int CountNewlines(ReadOnlySpan<char> s)
    {
        int n = 0;
        foreach (char ch in s)
        {
            if (ch == '\n')
            {
                n++;
            }
        }
        return n;
    }

    [DoesNotReturn]
    private static void Fail(string fileName, int line, string what) =>
        throw new TraceFormatException(fileName, line, "line", $"TSDL metadata: expected a token, found {what}.");
}
