using System.Buffers.Binary;
using System.Globalization;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>
/// What a dataset's <c>events.parquet</c> must be before a command reads it: a Parquet file (the magic <c>PAR1</c>
/// at both ends, a footer that fits in the file and decodes) whose schema holds the event header columns. DuckDB's
/// own errors for a damaged file ("No magic bytes found at end of file", "don't know what type", "Referenced column
/// "event" not found") do not say that the dataset is damaged, or what the file should hold.
/// </summary>
internal static class EventsFileCheck
{
    private const int MagicLength = 4;

    // "PAR1", the footer, its 4-byte length, "PAR1".
    private const int MinimumLength = 2 * MagicLength + 4;

    private const string Reingest = "Re-ingest the trace (mmtrace ingest --force).";

    /// <summary>Throws unless <paramref name="path"/> is a Parquet file with the event header columns.</summary>
    /// <exception cref="InvalidDataException">Names the file and the byte offset, what was expected and what was found.</exception>
    public static void Check(string path, DuckDbConnection connection)
    {
        if (Directory.Exists(path))
        {
            throw Damaged(path, "is a directory; expected the dataset's events Parquet file", Reingest);
        }
        if (!File.Exists(path))
        {
            throw Damaged(path, "is missing; the dataset holds no events table", Reingest);
        }
        string[] columns = CheckParquet(path, connection, Reingest);
        var missing = EventSchema.Columns.Take(EventSchema.FirstField).Select(c => c.Name).Where(c => !columns.Contains(c, StringComparer.Ordinal)).ToArray();
        if (missing.Length > 0)
        {
            const int Shown = 12;
            string found = string.Join(", ", columns.Take(Shown)) + (columns.Length > Shown ? ", …" : "");
            throw Damaged(path, $"is not an events table: expected the columns {string.Join(", ", EventSchema.Columns.Take(EventSchema.FirstField).Select(c => c.Name))}, found {(columns.Length == 0 ? "none" : found)} (missing {string.Join(", ", missing)})", Reingest);
        }
    }

    /// <summary>
    /// Throws unless <paramref name="path"/> (an existing file) is a whole Parquet file: the magic at both ends, a footer
    /// that fits and decodes. Every table of a dataset (explorations, coverage, findings …) is checked so before a view
    /// reads it: DuckDB reads a view's files at each query, so one damaged table failed every query, also over the others.
    /// </summary>
    /// <param name="path">The table's file.</param>
    /// <param name="connection">A DuckDB connection, to read the file's schema.</param>
    /// <param name="remedy">What to do about it, ending the message (which command writes the file again).</param>
    /// <returns>The file's column names.</returns>
    /// <exception cref="InvalidDataException">Names the file and the byte offset, what was expected and what was found.</exception>
    public static string[] CheckParquet(string path, DuckDbConnection connection, string remedy)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        long length = stream.Length;
        if (length < MinimumLength)
        {
            throw Damaged(path, string.Create(CultureInfo.InvariantCulture, $"has {length} bytes; expected a Parquet file (at least {MinimumLength} bytes)"), remedy);
        }
        Span<byte> head = stackalloc byte[MagicLength];
        Span<byte> tail = stackalloc byte[MagicLength + 4];
        stream.ReadExactly(head);
        stream.Seek(-tail.Length, SeekOrigin.End);
        stream.ReadExactly(tail);
        if (!head.SequenceEqual("PAR1"u8))
        {
            throw Damaged(path, $"byte 0: expected the Parquet magic 'PAR1', found {Show(head)}", remedy);
        }
        if (!tail[4..].SequenceEqual("PAR1"u8))
        {
            throw Damaged(path, string.Create(CultureInfo.InvariantCulture,
                $"byte {length - MagicLength}: expected the Parquet magic 'PAR1' that ends the file, found {Show(tail[4..])} (the file is cut short or overwritten)"), remedy);
        }
        uint footer = BinaryPrimitives.ReadUInt32LittleEndian(tail);
        if (footer > length - MinimumLength)
        {
            throw Damaged(path, string.Create(CultureInfo.InvariantCulture,
                $"byte {length - tail.Length}: footer length {footer} runs past the start of the {length}-byte file"), remedy);
        }
        string[] columns;
        try
        {
            // DuckDB reads only the footer here; it is loaded already by every command that reads a dataset.
            columns = (connection.Scalar($"SELECT string_agg(name, chr(10)) FROM parquet_schema({DatasetFiles.SqlLiteral(path)}) WHERE type IS NOT NULL") as string ?? "")
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (DuckDbException e)
        {
            throw Damaged(path, string.Create(CultureInfo.InvariantCulture,
                $"byte {length - tail.Length - footer}: the Parquet footer ({footer} bytes) does not decode: {e.Message.TrimEnd('.', ':', ' ')}"), remedy);
        }
        return columns;
    }

    private static InvalidDataException Damaged(string path, string what, string remedy) =>
        new($"{path}: {what}. {remedy}");

    // Bytes as 0xNN each: the magic's place holds whatever the damage left there.
    private static string Show(ReadOnlySpan<byte> bytes)
    {
        var text = new System.Text.StringBuilder();
        foreach (byte b in bytes)
        {
            text.Append(text.Length == 0 ? "" : " ").Append(CultureInfo.InvariantCulture, $"0x{b:X2}");
        }
        return text.ToString();
    }
}
