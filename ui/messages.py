"""Every error the page can show, in Russian: chosen by the error's type and its reason (an enum),
never by the wording of the library's English message, which stays for the CLI, the API and the
server's log. Paths and commands go in `code` spans (they are not translated, and markdown must
not read them); {folder} is the index folder, {file} its index.sqlite ({name}: the bare file
name), {model} the model's name; {indexer}, {page} and {training} the commands, as
search.commands names them where the page runs.

tests/test_ui_parts.py checks that each reason of each enum has its text here, in Russian.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

from search import DATABASE_FILE, EmptyReason, QueryError, QueryProblem, SearchResults
from search.commands import indexer_command, module_command, page_command
from search.errors import (
    ImageLoadError,
    ImageProblem,
    IndexStoreError,
    LabelError,
    LabelProblem,
    ModelProblem,
    StoreProblem,
)
from search.images import UploadTooLarge
from ui.loading import ModelUnavailable
from ui.thumbnails import OutsideFolders

log = logging.getLogger(__name__)

_BUILD = "`{indexer} build /путь/к/фото --index {folder}`"

QUERY_PROBLEMS: dict[QueryProblem, str] = {
    QueryProblem.EMPTY_TERM: "В запросе пустое слагаемое: между «+» и «−» должно быть слово. "
    "Например: «кот + снег − собака».",
    QueryProblem.NO_WEIGHT: "У всех слов запроса вес 0, искать нечего. Уберите «0:» перед словом "
    "или поставьте другой вес, например «2:кот».",
    QueryProblem.NOTHING_TO_SEARCH: "Искать нечего: слова запроса погасили друг друга (например, «кот − кот») "
    "или у фото-примера вес 0, а слов нет. Измените запрос или вес фото.",
    QueryProblem.BAD_ARGUMENT: "Поиск получил параметры, которых не понял. Это ошибка самой страницы: "
    "обновите её, а если ошибка повторится, сообщите разработчикам.",
}

STORE_PROBLEMS: dict[StoreProblem, str] = {
    StoreProblem.NO_INDEX: "В папке `{folder}` нет индекса. Постройте его и обновите страницу: " + _BUILD,
    StoreProblem.NOT_BUILT: "В папке `{folder}` ещё нет законченной сборки индекса. Дождитесь, пока сборка "
    "запишет первые фото, или запустите её: " + _BUILD,
    StoreProblem.BUSY: "Сейчас в папке `{folder}` идёт сборка индекса. Обновите страницу, когда она закончится.",
    StoreProblem.OTHER_MODEL: "Индекс в `{folder}` построен моделью с другими весами, чем у модели, которая "
    "лежит сейчас под тем же именем: векторы индекса с ней бессмысленны. Верните ту модель, с которой строили "
    "индекс, или постройте индекс заново в другой папке: "
    "`{indexer} build /путь/к/фото --index /новая/папка`.",
    StoreProblem.DAMAGED: "Файл индекса `{file}` повреждён, и ничему в нём доверять нельзя. Что делать: "
    "восстановить его из копии, сделанной командой `{indexer} backup` (сначала удалите рядом с ним "
    "`{name}-wal` и `{name}-shm`, потом положите копию на его место), или переименовать папку `{folder}` "
    "и построить индекс заново: " + _BUILD,
    StoreProblem.NEWER_SCHEMA: "Индекс `{file}` записан более новой версией программы, и эта версия его "
    "не читает. Обновите программу.",
    StoreProblem.DISK_FULL: "Диск, на котором лежит индекс `{folder}`, заполнен. Всё записанное раньше цело: "
    "освободите место на диске и обновите страницу.",
    StoreProblem.READ_ONLY: "Файл `{file}` или его папка доступны только для чтения, а индексу нужна запись. "
    "Проверьте права на папку `{folder}` или скопируйте её туда, где можно писать, и откройте копию: "
    "`{page} --index /путь/к/копии`.",
    StoreProblem.UNKNOWN_IMAGE: "Этого фото уже нет в индексе: новая сборка его убрала. Обновите страницу.",
    StoreProblem.BACKUP_FAILED: "Резервная копия индекса `{folder}` не сделана. Проверьте, что там, куда она "
    "пишется, есть место и права на запись, и повторите `{indexer} backup`.",
}

MODEL_PROBLEMS: dict[ModelProblem, str] = {
    ModelProblem.DEMO_MISSING: "Демо-модели нет в установленной программе. Переустановите программу "
    "или создайте модель заново: `{training} demo-model`.",
    ModelProblem.NOT_DOWNLOADED: "Модель `{model}`, которой построен индекс, ещё не скачана. Подключитесь "
    "к интернету и обновите страницу: модель скачивается один раз, дальше берётся с диска.",
    ModelProblem.DOWNLOAD_FAILED: "Модель `{model}`, которой построен индекс, ещё не скачана, а скачать её "
    "не удалось: нет интернета или сайт с моделями недоступен. Подключитесь к интернету и обновите страницу: "
    "модель скачивается один раз, дальше берётся с диска.",
    ModelProblem.UNREADABLE: "Файлы модели `{model}` нельзя прочитать: не хватает прав. Проверьте права "
    "на папку модели и её файлы и обновите страницу.",
    ModelProblem.UNKNOWN_NAME: "Индекс построен моделью `{model}`, а такой модели нет: это не имя опубликованной "
    "модели и не папка. Верните папку модели на место или постройте индекс заново: " + _BUILD,
    ModelProblem.FOLDER_MISSING: "Папки с моделью `{model}`, которой построен индекс, нет: её переместили "
    "или диск не подключён. Верните папку на место и обновите страницу.",
    ModelProblem.INCOMPLETE: "В папке модели `{model}` не хватает файлов: нужны `config.json`, файл весов "
    "и `bpe.model`. Скопируйте модель заново и обновите страницу.",
    ModelProblem.DAMAGED: "Файлы модели `{model}` повреждены или от другой версии. Скачайте или скопируйте "
    "модель заново и обновите страницу.",
}

# Why a search found nothing (SearchResults.empty_reason); {note} is the model's own sentence on
# the words it knows, {best} the best score found, {threshold} the page's threshold.
EMPTY_REASONS: dict[EmptyReason, str] = {
    EmptyReason.INDEX_EMPTY: "В индексе нет фото.",
    EmptyReason.UNKNOWN_WORDS: "{note}",
    EmptyReason.FILTERS_LEAVE_NOTHING: "Ни одно фото не подходит под фильтры слева.",
    EmptyReason.NOTHING_LEFT: "В индексе нет других фото.",
    EmptyReason.BELOW_MIN_SCORE: "Уверенных совпадений нет: лучшее сходство {best:.2f}, порог {threshold:.2f}. "
    "Попробуйте другие слова или понизьте «Порог сходства» слева.",
    # Words in quotes are looked for in the photos' text alone, and must be there.
    EmptyReason.NO_TEXT_MATCH: "Ни на одном фото нет этих слов: в тексте, распознанном на фото, их не нашлось. "
    "Слова в кавычках ищутся только в этом тексте; проверьте написание или уберите кавычки, чтобы искать "
    "и по смыслу.",
    EmptyReason.NO_TEXT_READ: "Текст на фото этой коллекции не распознан, а слова в кавычках ищутся только в нём. "
    "Распознайте его на скриншотах, чеках и документах: `{indexer} build /путь/к/фото --index {folder} --ocr auto` "
    "(с `--ocr all` — на всех фото, это дольше). Если для распознавания чего-то не хватает, сборка скажет, "
    "что установить. Или уберите кавычки, чтобы искать по смыслу.",
}
# Shown as a warning (the user can change something); the others as a plain note.
WARNED_EMPTY = frozenset({EmptyReason.UNKNOWN_WORDS, EmptyReason.BELOW_MIN_SCORE, EmptyReason.NO_TEXT_READ})

# Why a photo could not be read: the sidebar's failure groups, a card that cannot show its picture.
IMAGE_PROBLEMS: dict[ImageProblem, str] = {
    ImageProblem.NOT_AN_IMAGE: "не изображение или файл повреждён",
    ImageProblem.TOO_LARGE: "слишком большое изображение",
    ImageProblem.PERMISSION_DENIED: "нет прав на чтение файла",
    ImageProblem.VANISHED: "файл пропал: удалён или перемещён после сборки",
    ImageProblem.OUT_OF_MEMORY: "не хватило памяти",
    ImageProblem.DECODER_ERROR: "ошибка при расшифровке изображения",
    ImageProblem.DECODER_CRASHED: "программа чтения изображений аварийно завершилась на этом файле",
    ImageProblem.TIMED_OUT: "читался слишком долго",
    ImageProblem.RAW_UNREADABLE: "«сырой» снимок камеры не читается: файл повреждён, камера новее "
    "установленной библиотеки `rawpy` или она не установлена (`pip install -U rawpy`)",
    ImageProblem.NOT_VISIBLE: "файл не виден на узле кластера: фото должны лежать по одному пути на всех узлах; "
    "следующая сборка попробует снова",
}
OUTSIDE_FOLDERS = "фото лежит вне папок индекса, поэтому не показывается"
UNEXPECTED = "Непредвиденная ошибка. Обновите страницу; подробности записаны в журнал сервера."

_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~#$])")
_TEXT_PART = re.compile(r"([^\W_]+)|[!-/:-@\[-`{-~]")  # a word, or one ASCII punctuation mark


def plural(count: int, one: str, few: str, many: str) -> str:
    """The Russian form for `count`: plural(1, "кадр", "кадра", "кадров") -> "кадр" (21, 31...),
    "кадра" for 2-4 (22-24...), "кадров" for the rest (11-14 included)."""
    if count % 10 == 1 and count % 100 != 11:
        return one
    if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        return few
    return many


def plain(text: str) -> str:
    """`text` (a file name from the user) shown as it is inside markdown."""
    return _MARKDOWN.sub(r"\\\1", text)


def plain_text(text: str, marked: Collection[str] = ()) -> str:
    """`text` read in a photo shown as it is inside markdown, its words in `marked` highlighted.

    A receipt's «*», «_», «-----», «1.» or «:» must not be read as markdown: every ASCII punctuation
    mark is escaped (CommonMark lets each be: no emphasis, list, heading, rule, link, entity, formula,
    nor Streamlit's «:цвет[...]» and «:emoji:»), a line's leading spaces are dropped (four would start
    a code block) and each line break is kept. A word is a run of letters and digits, as the search's
    matched words are (Hit.matched_words), compared as written.
    """

    def shown(part: re.Match[str]) -> str:
        word = part[1]
        if word is None:
            return "\\" + part[0]
        return f":orange-background[**{word}**]" if word in marked else word

    lines = unicodedata.normalize("NFC", text).splitlines()
    return "  \n".join(_TEXT_PART.sub(shown, line.strip()) for line in lines)


LABEL_PROBLEMS = {
    LabelProblem.UNKNOWN_TAG: "Такого тега в индексе нет: выберите тег из списка «Теги».",
    LabelProblem.UNKNOWN_CATEGORY: "Такой категории больше нет: её удалили. Выберите другую или научите заново.",
    LabelProblem.NO_EXAMPLES: "Отметьте «пример» хотя бы у одного фото категории.",
    LabelProblem.NOT_IN_INDEX: "Этого фото больше нет в индексе: индекс обновился. Отметьте примеры заново.",
    LabelProblem.OTHER_MODEL: "Эта категория обучена на другой модели: удалите её и научите заново по примерам.",
    LabelProblem.BAD_NAME: (
        "Название занято или не подходит: нужно от 1 до 80 символов без «|», не как у другой категории."
    ),
    LabelProblem.VOCABULARY_TAG: "Это тег словаря, его нельзя удалить.",
    LabelProblem.PROBE_UNAVAILABLE: (
        "Для категорий нужен пакет `scikit-learn`, а в этой установке его нет: `pip install scikit-learn`."
    ),
    LabelProblem.NOT_TAGGED: "У фото этого индекса ещё нет тегов: запустите `{indexer} build` — и они появятся.",
}


# The words of the tags and categories (ui/labels_view.py). A category's name (and a user's own
# tag) is the user's: shown through plain() wherever markdown reads it.
ALL_PHOTOS = "Все фото"  # the «Категория» filter's «any»
TAGS_HELP = "Только фото со всеми выбранными тегами. Теги ставятся при индексации."
CATEGORY_HELP = "Только фото своей категории, самые уверенные первыми"
OVERVIEW_HELP = "Теги и свои категории коллекции"
TEACHING_HELP = "Отметьте фото-примеры среди результатов и дайте им название"
OVERVIEW_TITLE = "Обзор коллекции"
OWN_CATEGORIES = "Свои категории"
OTHER_TAGS = "Теги"  # the heading of tags without a group
NO_TAGS_YET = "У фото пока нет тегов: они появятся после следующей индексации."
NEW_CATEGORY = "Новая категория"
SCORES_NOTE = "Фото категории, самые уверенные первыми: число на карточке — уверенность, что фото из неё (от 0,5 до 1)."

# Text in photos (build --ocr): the toggle by the query box, a card's matched words, the large view.
TEXT_IN_PHOTOS = "Текст на фото"
TEXT_TOGGLE_HELP = (
    "Слова запроса ищутся и в тексте, распознанном на фото: на скриншотах, чеках, документах, вывесках — "
    "в любой форме слова («чеки» найдёт «ЧЕК»). Такие фото встают в выдаче рядом с похожими по смыслу. "
    'Слово в кавычках («"пароль"») ищется только в тексте и должно там быть. '
    "Выключите, чтобы искать только по смыслу."
)


def text_read_in(count: int) -> str:
    """The sidebar's line on the photos whose text was read: «Текст распознан на 2 фото»."""
    return f"Текст распознан на {count} фото: слова запроса ищутся и в нём"


def matched_words(words: tuple[str, ...]) -> str:
    """A card's line: the words of its photo's text that the query found."""
    return "Слова на фото: " + ", ".join(plain(word) for word in words)


def photos_count(count: int) -> str:
    """«1 фото», «5 фото»: the noun does not change, the count is what a tile says."""
    return f"{count} фото"


def examples_count(count: int) -> str:
    """«по 1 примеру», «по 2 примерам»."""
    return f"по {count} {plural(count, 'примеру', 'примерам', 'примерам')}"


def teach_hint(picked: int) -> str:
    """Above a new category's name: what to do, and how many photos are ticked so far."""
    return f"Отметьте «пример» у фото будущей категории (отмечено: {picked}), назовите её и нажмите «Научить»."


def add_hint(name: str, picked: int) -> str:
    return f"Отметьте «пример» у фото, которых не хватает в «{plain(name)}» (отмечено: {picked})."


def correct_hint(name: str, wrong: int, picked: int) -> str:
    return (
        f"**Категория «{plain(name)}».** Отметьте «не то» у лишних фото, затем нажмите «Переобучить» "
        f"(«не то»: {wrong}, новых примеров: {picked})."
    )


def category_taught(name: str, examples: int, members: int) -> str:
    """After «Научить»: how many photos the new category took."""
    return f"Категория «{plain(name)}» научена {examples_count(examples)}: в ней {photos_count(members)}."


def category_retrained(name: str, before: int, after: int) -> str:
    """After «Переобучить» or «Добавить примеры»: the member count, then and now."""
    change = "столько же" if before == after else f"было {before}"
    return f"Категория «{plain(name)}» переобучена: в ней {photos_count(after)} ({change})."


def category_removed(name: str) -> str:
    return f"Категория «{plain(name)}» удалена. Фото остались на месте."


def explained(error: Exception, folder: Path) -> str:
    """The Russian message for an error met while opening the index or searching it."""
    log.info("shown to the user in Russian: %s", error)  # the English detail, for whoever runs the server
    if isinstance(error, QueryError):
        return QUERY_PROBLEMS[error.reason]
    if isinstance(error, LabelError):
        return LABEL_PROBLEMS[error.reason].format(indexer=indexer_command())
    if isinstance(error, IndexStoreError):
        folder = folder.absolute()
        return STORE_PROBLEMS[error.reason].format(
            folder=folder,
            file=folder / DATABASE_FILE,
            name=DATABASE_FILE,
            indexer=indexer_command(),
            page=page_command(),
        )
    if isinstance(error, ModelUnavailable):
        return MODEL_PROBLEMS[error.reason].format(model=error.name, training=module_command("training"))
    log.warning("an error without a Russian text", exc_info=error)
    return UNEXPECTED


def nothing_found(results: SearchResults, threshold: float | None, folder: Path | None = None) -> str:
    """Why a search found nothing, in Russian, by its empty reason; `folder` is the index's (the
    command that reads the photos' text names it)."""
    reason = results.empty_reason or EmptyReason.NOTHING_LEFT
    return EMPTY_REASONS[reason].format(
        note=results.note,
        best=results.best_score or 0.0,
        threshold=threshold or 0.0,
        indexer=indexer_command(),
        folder=folder.absolute() if folder is not None else "/путь/к/индексу",
    )


def failure_reason(reason: str) -> str:
    """A failure group of the index (an ImageProblem's value) in Russian."""
    try:
        return IMAGE_PROBLEMS[ImageProblem(reason)]
    except ValueError:  # recorded by another version of the indexer
        return f"другая причина: `{reason}`"


def not_shown(error: ImageLoadError) -> str:
    """Said on a card, or in the large view, instead of a picture that could not be read."""
    why = OUTSIDE_FOLDERS if isinstance(error, OutsideFolders) else IMAGE_PROBLEMS[error.reason]
    return f"Не показать: {why}."


def upload_refused(name: str, error: ImageLoadError) -> str:
    """Why an uploaded picture cannot be the example, naming it as the user named it."""
    name = plain(name)
    if isinstance(error, UploadTooLarge):
        limit = f"{error.limit / 1e6:.0f}"
        size = f"в нём {error.pixels / 1e6:.0f} Мп" if error.pixels else "в нём слишком много пикселей"
        return (
            f"Фото «{name}» слишком большое: {size}, а страница открывает до {limit} Мп. "
            "Уменьшите его и загрузите снова."
        )
    if error.reason is ImageProblem.NOT_AN_IMAGE:
        return f"Не удалось прочитать «{name}»: это не изображение или файл повреждён."
    return f"Не удалось прочитать «{name}»: {IMAGE_PROBLEMS[error.reason]}."
