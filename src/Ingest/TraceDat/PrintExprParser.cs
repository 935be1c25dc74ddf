using System.Globalization;
using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Recursive-descent parser for the argument list of a print fmt (the C subset of TP_printk arguments:
/// integer arithmetic, casts, ternaries, <c>REC-&gt;field</c>, string literals and the trace helper macros).
/// Unknown helpers parse to an expression that cannot be evaluated, so one odd argument does not lose the rest.
/// </summary>
internal sealed class PrintExprParser
{
    private static readonly HashSet<string> s_typeWords = new(StringComparer.Ordinal)
    {
        "unsigned", "signed", "long", "int", "short", "char", "void", "const", "bool", "_Bool", "struct", "enum", "union",
        "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8", "__u16", "__u32", "__u64", "__s8", "__s16", "__s32", "__s64",
        "volatile",
    };

    private readonly string _text;
    private const int MaxDepth = 64;

    private readonly FormatFile _owner;
    private int _pos;
    private int _depth;

    public PrintExprParser(string text, FormatFile owner)
    {
        _text = text;
        _owner = owner;
    }

    public bool AtEnd
    {
        get
        {
            SkipSpace();
            return _pos >= _text.Length;
        }
    }

    public string ParseFormatString()
    {
        SkipSpace();
        if (Peek() != '"')
        {
            throw new FormatException("print fmt: expected a string literal.");
        }
        return ReadStrings();
    }

    public bool TryConsumeComma()
    {
        SkipSpace();
        if (Peek() == ',')
        {
            _pos++;
            return true;
        }
        return false;
    }

    public PrintExpr ParseArgument()
    {
        int start = _pos;
        try
        {
            return ParseTernary();
        }
        catch (FormatException)
        {
            // Skip to the next top-level comma so the remaining arguments keep their positions.
            _pos = start;
            SkipBalancedUntilComma();
            return new ErrorExpr();
        }
    }

    private void SkipBalancedUntilComma()
    {
        int depth = 0;
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == '"' || c == '\'')
            {
                SkipQuoted(c);
                continue;
            }
            if (c is '(' or '{' or '[')
            {
                depth++;
            }
            else if (c is ')' or '}' or ']')
            {
                depth--;
            }
            else if (c == ',' && depth <= 0)
            {
                return;
            }
            _pos++;
        }
    }

    private void SkipQuoted(char quote)
    {
        _pos++;
        while (_pos < _text.Length && _text[_pos] != quote)
        {
            _pos += _text[_pos] == '\\' ? 2 : 1;
        }
        _pos++;
    }

    private PrintExpr ParseTernary() => ParseNested(ParseTernaryCore);

    private PrintExpr ParseTernaryCore()
    {
        var condition = ParseBinary(0);
        SkipSpace();
        if (Peek() == '?')
        {
            _pos++;
            var whenTrue = ParseTernary();
            Expect(':');
            var whenFalse = ParseTernary();
            return new TernaryExpr(condition, whenTrue, whenFalse);
        }
        return condition;
    }

    private static readonly string[][] s_levels =
    [
        ["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<=", ">=", "<", ">"], ["<<", ">>"], ["+", "-"], ["*", "/", "%"],
    ];

    private PrintExpr ParseBinary(int level)
    {
        if (level == s_levels.Length)
        {
            return ParseUnary();
        }
        var left = ParseBinary(level + 1);
        while (true)
        {
            SkipSpace();
            string? op = null;
            foreach (var candidate in s_levels[level])
            {
                if (string.CompareOrdinal(_text, _pos, candidate, 0, candidate.Length) == 0 && !IsLongerOperator(candidate))
                {
                    op = candidate;
                    break;
                }
            }
            if (op is null)
            {
                return left;
            }
            _pos += op.Length;
            var right = ParseBinary(level + 1);
            left = new BinaryExpr(op, left, right);
        }
    }

    private bool IsLongerOperator(string op)
    {
        // "|" must not match "||", "&" not "&&", "<" not "<<" or "<=", "-" not "->".
        int next = _pos + op.Length;
        if (next >= _text.Length)
        {
            return false;
        }
        char n = _text[next];
        return op switch
        {
            "|" => n == '|',
            "&" => n == '&',
            "<" => n is '<' or '=',
            ">" => n is '>' or '=',
            "-" => n == '>',
            "!=" or "==" or "<=" or ">=" or "<<" or ">>" or "&&" or "||" => false,
            _ => false,
        };
    }

    private PrintExpr ParseUnary()
    {
        SkipSpace();
        char c = Peek();
        if (c is '-' or '~' or '!' or '+' && !(c == '-' && PeekAt(1) == '>'))
        {
            _pos++;
            return new UnaryExpr(c, ParseNested(ParseUnary));
        }
        if (c == '&' || c == '*')
        {
            _pos++;
            _ = ParseNested(ParseUnary);
            return new ErrorExpr();
        }
        if (c == '(' && TryParseCastType(out int size, out bool signed))
        {
            var operand = ParseNested(ParseUnary);
            return size == 0 ? operand : new CastExpr(size, signed, operand);
        }
        return ParsePostfix();
    }

    /// <summary>Format files come from the trace: bound the nesting so a hostile one cannot overflow the stack.</summary>
    private PrintExpr ParseNested(Func<PrintExpr> parse)
    {
        if (++_depth > MaxDepth)
        {
            throw new FormatException($"print fmt: expressions nested deeper than {MaxDepth} levels.");
        }
        try
        {
            return parse();
        }
        finally
        {
            _depth--;
        }
    }

    /// <summary>Recognises <c>(type)</c>: identifiers that are type words, typedef-like names (<c>gfp_t</c>) or a pointer.</summary>
    private bool TryParseCastType(out int size, out bool signed)
    {
        size = 0;
        signed = false;
        int close = _text.IndexOf(')', _pos);
        if (close < 0)
        {
            return false;
        }
        var inner = _text.AsSpan(_pos + 1, close - _pos - 1).Trim();
        if (inner.IsEmpty)
        {
            return false;
        }
        bool pointer = false;
        var words = new List<string>();
        foreach (var part in inner.ToString().Replace("*", " * ", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "*")
            {
                pointer = true;
                continue;
            }
            if (!part.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_'))
            {
                return false;
            }
            words.Add(part);
        }
        if (words.Count == 0)
        {
            return false;
        }
        bool isType = pointer || s_typeWords.Contains(words[0]) || words[0].EndsWith("_t", StringComparison.Ordinal);
        if (!isType)
        {
            return false;
        }
        _pos = close + 1;
        if (pointer)
        {
            size = 8;
            return true;
        }
        signed = !words.Contains("unsigned");
        string last = words[^1];
        size = last switch
        {
            "char" or "u8" or "s8" or "__u8" or "__s8" or "bool" or "_Bool" => 1,
            "short" or "u16" or "s16" or "__u16" or "__s16" => 2,
            "int" or "u32" or "s32" or "__u32" or "__s32" or "unsigned" or "signed" => 4,
            "long" or "u64" or "s64" or "__u64" or "__s64" => 8,
            _ => 0,
        };
        if (last is "u8" or "u16" or "u32" or "u64" or "__u8" or "__u16" or "__u32" or "__u64" or "bool" or "_Bool")
        {
            signed = false;
        }
        if (words.Contains("long") && last == "int")
        {
            size = 8;
        }
        return true;
    }

    private PrintExpr ParsePostfix()
    {
        var expr = ParsePrimary(out string? identifier);
        while (true)
        {
            SkipSpace();
            if (Peek() == '-' && PeekAt(1) == '>')
            {
                _pos += 2;
                string member = ReadIdentifier() ?? throw new FormatException("print fmt: expected a field name after '->'.");
                if (identifier == "REC")
                {
                    var field = _owner.FindField(member);
                    expr = field is null ? new ErrorExpr() : new FieldExpr(field);
                }
                else
                {
                    expr = new ErrorExpr();
                }
                identifier = null;
                continue;
            }
            if (Peek() == '.')
            {
                _pos++;
                _ = ReadIdentifier();
                expr = new ErrorExpr();
                identifier = null;
                continue;
            }
            if (Peek() == '[')
            {
                _pos++;
                _ = ParseTernary();
                Expect(']');
                expr = new ErrorExpr();
                continue;
            }
            if (Peek() == '(' && identifier is not null)
            {
                _pos++;
                var args = new List<object>();
                SkipSpace();
                if (Peek() != ')')
                {
                    do
                    {
                        args.Add(ParseCallArgument());
                    }
                    while (TryConsumeComma());
                }
                Expect(')');
                expr = MakeCall(identifier, args);
                identifier = null;
                continue;
            }
            return expr;
        }
    }

    private object ParseCallArgument()
    {
        SkipSpace();
        if (Peek() == '{')
        {
            _pos++;
            var items = new List<PrintExpr>();
            SkipSpace();
            if (Peek() != '}')
            {
                do
                {
                    items.Add(ParseTernary());
                }
                while (TryConsumeComma());
            }
            Expect('}');
            return items;
        }
        return ParseTernary();
    }

    private PrintExpr MakeCall(string name, List<object> args)
    {
        switch (name)
        {
            case "__print_symbolic":
            case "__print_symbolic_u64":
                return args.Count >= 1 && args[0] is PrintExpr symbol && TryReadTable(args, 1, out var symbols)
                    ? new PrintSymbolicExpr(symbol, symbols)
                    : new ErrorExpr();
            case "__print_flags":
            case "__print_flags_u64":
            {
                if (args.Count < 2 || args[0] is not PrintExpr value || args[1] is not PrintExpr delimiterExpr
                    || !TryReadTable(args, 2, out var masks))
                {
                    return new ErrorExpr();
                }
                var delimiter = delimiterExpr.Evaluate(default);
                return delimiter.IsText ? new PrintFlagsExpr(value, delimiter.Text!, masks) : new ErrorExpr();
            }
            case "__get_str":
            case "__get_rel_str":
            case "__get_dynamic_array":
            case "__get_rel_dynamic_array":
            {
                var field = FieldArgument(args);
                return field is { IsString: true } ? new ArrayFieldExpr(field, ArrayFieldUse.Text) : new ErrorExpr();
            }
            case "__get_dynamic_array_len":
            case "__get_rel_dynamic_array_len":
            {
                var field = FieldArgument(args);
                return field is null ? new ErrorExpr() : new ArrayFieldExpr(field, ArrayFieldUse.Length);
            }
            case "__get_cpumask":
            case "__get_bitmask":
            case "__get_rel_cpumask":
            case "__get_rel_bitmask":
            {
                var field = FieldArgument(args);
                return field is null ? new ErrorExpr() : new ArrayFieldExpr(field, ArrayFieldUse.Bitmap);
            }
            default:
                return new ErrorExpr();
        }
    }

    private FormatField? FieldArgument(List<object> args)
    {
        // The helpers take the bare field name, which parses as a global identifier; look it up by its text.
        return args.Count == 1 && args[0] is NamedGlobalExpr named ? _owner.FindField(named.Name) : null;
    }

    /// <summary>Reads <c>{value, "name"}</c> entries from <paramref name="start"/> up to a <c>{0, NULL}</c> terminator.</summary>
    private static bool TryReadTable(List<object> args, int start, out (long Value, string Name)[] table)
    {
        var entries = new List<(long, string)>();
        table = [];
        for (int i = start; i < args.Count; i++)
        {
            if (!TryConstantPair(args[i], out long key, out string? text))
            {
                return false;
            }
            if (text is null)
            {
                break;
            }
            entries.Add((key, text));
        }
        table = entries.ToArray();
        return true;
    }

    private static bool TryConstantPair(object item, out long key, out string? text)
    {
        key = 0;
        text = null;
        if (item is not List<PrintExpr> { Count: 2 } pair)
        {
            return false;
        }
        var k = pair[0].Evaluate(default);
        var v = pair[1].Evaluate(default);
        if (k.IsError || k.IsText)
        {
            return false;
        }
        key = k.Integer;
        if (v.IsText)
        {
            text = v.Text;
            return true;
        }
        // { 0, NULL } terminates a table.
        return !v.IsError && v.Integer == 0;
    }

    private PrintExpr ParsePrimary(out string? identifier)
    {
        identifier = null;
        SkipSpace();
        char c = Peek();
        if (c == '"')
        {
            return new ConstantExpr(PrintValue.Of(ReadStrings()));
        }
        if (c == '\'')
        {
            return new ConstantExpr(PrintValue.Of(ReadCharLiteral()));
        }
        if (char.IsAsciiDigit(c))
        {
            return new ConstantExpr(PrintValue.Of(ReadNumber()));
        }
        if (c == '(')
        {
            _pos++;
            var inner = ParseTernary();
            Expect(')');
            return inner;
        }
        string? name = ReadIdentifier();
        if (name is null)
        {
            throw new FormatException($"print fmt: unexpected '{c}' at column {_pos}.");
        }
        if (name == "sizeof")
        {
            SkipSpace();
            if (Peek() == '(')
            {
                _pos++;
                SkipBalancedUntilClose();
            }
            return new ErrorExpr();
        }
        identifier = name;
        return new NamedGlobalExpr(name);
    }

    private void SkipBalancedUntilClose()
    {
        int depth = 1;
        while (_pos < _text.Length && depth > 0)
        {
            char c = _text[_pos++];
            if (c == '(')
            {
                depth++;
            }
            else if (c == ')')
            {
                depth--;
            }
        }
    }

    private long ReadNumber()
    {
        int start = _pos;
        ulong value;
        if (Peek() == '0' && (PeekAt(1) is 'x' or 'X'))
        {
            _pos += 2;
            int digitsStart = _pos;
            while (_pos < _text.Length && char.IsAsciiHexDigit(_text[_pos]))
            {
                _pos++;
            }
            if (!ulong.TryParse(_text.AsSpan(digitsStart, _pos - digitsStart), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value))
            {
                throw new FormatException($"print fmt: bad hex number at column {start}.");
            }
        }
        else
        {
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
            {
                _pos++;
            }
            var digits = _text.AsSpan(start, _pos - start);
            if (digits.Length > 1 && digits[0] == '0')
            {
                value = 0;
                foreach (char d in digits)
                {
                    value = value * 8 + (ulong)(d - '0');
                }
            }
            else if (!ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value))
            {
                throw new FormatException($"print fmt: bad number at column {start}.");
            }
        }
        while (_pos < _text.Length && _text[_pos] is 'u' or 'U' or 'l' or 'L')
        {
            _pos++;
        }
        return (long)value;
    }

    private string ReadStrings()
    {
        var sb = new StringBuilder();
        while (true)
        {
            SkipSpace();
            if (Peek() != '"')
            {
                return sb.ToString();
            }
            _pos++;
            while (true)
            {
                if (_pos >= _text.Length)
                {
                    throw new FormatException("print fmt: unterminated string literal.");
                }
                char c = _text[_pos++];
                if (c == '"')
                {
                    break;
                }
                if (c == '\\' && _pos < _text.Length)
                {
                    sb.Append(Unescape(_text[_pos++]));
                    continue;
                }
                sb.Append(c);
            }
        }
    }

    private long ReadCharLiteral()
    {
        _pos++;
        char c = Peek();
        if (c == '\\')
        {
            _pos++;
            c = Unescape(Peek());
        }
        _pos++;
        Expect('\'');
        return c;
    }

    private string? ReadIdentifier()
    {
        SkipSpace();
        int start = _pos;
        while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_'))
        {
            _pos++;
        }
        return _pos == start || char.IsAsciiDigit(_text[start]) ? null : _text[start.._pos];
    }

    private void Expect(char c)
    {
        SkipSpace();
        if (Peek() != c)
        {
            throw new FormatException($"print fmt: expected '{c}' at column {_pos}, found '{(_pos < _text.Length ? _text[_pos] : '∅')}'.");
        }
        _pos++;
    }

    /// <summary>The character a C escape <c>\\e</c> stands for.</summary>
    internal static char Unescape(char e) => e switch
    {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        _ => e,
    };

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private char PeekAt(int delta) => _pos + delta < _text.Length ? _text[_pos + delta] : '\0';

    private void SkipSpace()
    {
        while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos]))
        {
            _pos++;
        }
    }
}

/// <summary>
/// A bare identifier: a kernel global such as <c>vmemmap_base</c> (not known offline; read as 0, as libtraceevent
/// does) or a field name handed to a helper macro.
/// </summary>
internal sealed class NamedGlobalExpr(string name) : PrintExpr
{
    public string Name { get; } = name;

    public override PrintValue Evaluate(in RecordContext context) => PrintValue.Of(0);
}
