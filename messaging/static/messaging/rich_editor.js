/* The rich-text editor of email bodies and signatures (messaging/editor.py: RichTextEditor).

   django-prose-editor's ProseMirror/Tiptap bundle is imported by its relative path in the static
   files: the package's presets need an inline import map, which the Content-Security-Policy
   refuses. Each <textarea data-rich-editor> becomes an editor offering what the server's HTML
   allow-list keeps (messaging/html.py): bold, italics, underline, strike, text and background
   colours, lists, links, images, alignment, headings, quotes and tables (so existing bodies open
   unchanged), the HTML source, and the merge-field picker on pages that include it.

   The textarea keeps the editor's HTML at each change (the form posts it). Other scripts reach
   the editor as textarea.richEditor (a Tiptap Editor): merge_picker.js inserts codes with it,
   sending/send_window.js replaces the body with it. */

// The package's dialogs ask window.gettext for their labels (in English): on a French page, French
// ones, set before the bundle is evaluated (it reads window.gettext once). The page's catalog
// (Django's JavaScriptCatalog, base.html) answers every other text, and this file's own.
const FRENCH = {
  "Update": "Valider", "Cancel": "Annuler", "Insert": "Insérer", "URL": "Adresse (URL)", "Title": "Titre",
  "Open in new window": "Ouvrir dans une nouvelle fenêtre", "Edit Link": "Lien",
  "Edit HTML": "Code HTML", "Prettify": "Mettre en forme",
  "The HTML contents of the editor. Note that the allowed HTML is restricted by the editor schema.":
    "Le code HTML du message. Seule la mise en forme que l'éditeur connaît est conservée.",
  "List properties": "Liste", "List type": "Type de liste", "Start at": "Commencer à",
  "Decimal numbers": "1, 2, 3", "Lowercase letters": "a, b, c", "Uppercase letters": "A, B, C",
  "Lowercase Roman numerals": "i, ii, iii", "Uppercase Roman numerals": "I, II, III", "Bullets": "Puces",
  "Rows": "Lignes", "Columns": "Colonnes", "Include header row": "Avec une ligne d'en-tête",
  "Table Properties": "Tableau", "Insert Table": "Insérer un tableau", "Toggle fullscreen": "Plein écran",
  "Image URL": "Adresse de l'image", "Alternative Text": "Texte de remplacement",
};
const pageGettext = window.gettext;
const gettext = (text) => (pageGettext ? pageGettext(text) : text);
if ((document.documentElement.lang || "fr").startsWith("fr")) {
  window.gettext = function (text) {
    if (Object.prototype.hasOwnProperty.call(FRENCH, text)) { return FRENCH[text]; }
    return gettext(text);
  };
}

// The toolbar's tooltips (and accessible names), by menu item name.
const TITLES = {
  bold: gettext("Gras"), italic: gettext("Italique"), underline: gettext("Souligné"), strike: gettext("Barré"),
  bulletList: gettext("Liste à puces"), orderedList: gettext("Liste numérotée"), link: gettext("Insérer un lien"), unlink: gettext("Retirer le lien"),
  undo: gettext("Annuler"), redo: gettext("Rétablir"), html: gettext("Code HTML"), blockquote: gettext("Citation"), horizontalRule: gettext("Ligne horizontale"),
  table: gettext("Insérer un tableau"), paragraph: gettext("Paragraphe"),
};

// Colours offered for text and background: readable on white and in every mail client.
const COLOURS = [
  ["#000000", gettext("Noir")], ["#7f8c8d", gettext("Gris")], ["#c0392b", gettext("Rouge")], ["#e67e22", gettext("Orange")],
  ["#27ae60", gettext("Vert")], ["#2980b9", gettext("Bleu")], ["#8e44ad", gettext("Violet")],
];
const BACKGROUNDS = [["#fff3a0", gettext("Jaune")], ["#d5f5e3", gettext("Vert clair")], ["#d6eaf8", gettext("Bleu clair")], ["#fadbd8", gettext("Rose")]];

const E = await import("../django_prose_editor/editor.js");

// A declaration of an element's style attribute as written ("#e03e2d" stays "#e03e2d"; the
// browser's element.style would answer "rgb(224, 62, 45)", and a body opened then saved would
// change). The last declaration wins, as in CSS.
function declared(element, property) {
  const declarations = (element.getAttribute("style") || "").split(";");
  for (let i = declarations.length - 1; i >= 0; i -= 1) {
    const colon = declarations[i].indexOf(":");
    if (colon !== -1 && declarations[i].slice(0, colon).trim().toLowerCase() === property) {
      return declarations[i].slice(colon + 1).trim() || null;
    }
  }
  return null;
}

// Text and background colours as textStyle attributes (<span style="color: …">), the markup the
// allow-list keeps, with their values kept as written.
function colourExtension(name, property, setter, unsetter) {
  return E.Extension.create({
    name,
    addGlobalAttributes() {
      return [{
        types: ["textStyle"],
        attributes: {
          [name]: {
            default: null,
            parseHTML: (element) => declared(element, property),
            renderHTML: (attributes) => (attributes[name] ? { style: `${property}: ${attributes[name]}` } : {}),
          },
        },
      }];
    },
    addCommands() {
      return {
        [setter]: (colour) => ({ chain }) => chain().setMark("textStyle", { [name]: colour }).run(),
        [unsetter]: () => ({ chain }) => chain().setMark("textStyle", { [name]: null }).removeEmptyTextStyle().run(),
      };
    },
  });
}
const TextColor = colourExtension("color", "color", "setColor", "unsetColor");
const BackgroundColor = colourExtension("backgroundColor", "background-color", "setBackgroundColor", "unsetBackgroundColor");

// The link dialog's "Titre" left empty means no title (not title="").
const Link = E.Link.extend({
  addAttributes() {
    return {
      ...this.parent?.(),
      title: { default: null, renderHTML: (attributes) => (attributes.title ? { title: attributes.title } : {}) },
    };
  },
});

function swatch(colour, label, background) {
  return E.crel("span", {
    className: "rich-editor-swatch",
    textContent: label,
    style: background ? `background-color: ${colour}` : `color: ${colour}`,
  });
}

// The toolbar items this project adds: colour menus, an image button, the merge-field picker.
const Additions = E.Extension.create({
  name: "richEditorAdditions",
  addOptions: () => ({ textarea: null }),
  addMenuItems({ menu, buttons }) {
    const textarea = this.options.textarea;
    menu.defineItem({
      name: "color:none", groups: "color", priority: 200,
      button: buttons.material("format_color_text", gettext("Couleur du texte")),
      option: swatch("inherit", gettext("Couleur par défaut"), false),
      command: (editor) => editor.chain().focus().unsetColor().run(),
      active: (editor) => !editor.getAttributes("textStyle").color,
    });
    COLOURS.forEach(([colour, label], index) => {
      menu.defineItem({
        name: `color:${colour}`, groups: "color", priority: 100 - index,
        button: buttons.text("A", `Texte ${label.toLowerCase()}`, `color: ${colour}; font-weight: bold`),
        option: swatch(colour, label, false),
        command: (editor) => editor.chain().focus().setColor(colour).run(),
        active: (editor) => editor.isActive("textStyle", { color: colour }),
      });
    });
    menu.defineItem({
      name: "background:none", groups: "background", priority: 200,
      button: buttons.material("format_color_fill", gettext("Surlignage")),
      option: swatch("transparent", gettext("Sans surlignage"), true),
      command: (editor) => editor.chain().focus().unsetBackgroundColor().run(),
      active: (editor) => !editor.getAttributes("textStyle").backgroundColor,
    });
    BACKGROUNDS.forEach(([colour, label], index) => {
      menu.defineItem({
        name: `background:${colour}`, groups: "background", priority: 100 - index,
        button: buttons.text("A", `Surligné ${label.toLowerCase()}`, `background-color: ${colour}`),
        option: swatch(colour, label, true),
        command: (editor) => editor.chain().focus().setBackgroundColor(colour).run(),
        active: (editor) => editor.isActive("textStyle", { backgroundColor: colour }),
      });
    });
    menu.defineItem({
      name: "image", groups: "image",
      button: buttons.material("image", gettext("Insérer une image")),
      command(editor) {
        const current = editor.isActive("image") ? editor.getAttributes("image") : {};
        E.updateAttrsDialog({
          src: { type: "string", title: gettext("Adresse de l'image (https://…)"), required: true },
          alt: { type: "string", title: gettext("Texte de remplacement (lu si l'image ne s'affiche pas)") },
        }, { title: gettext("Image"), submitText: gettext("Insérer") })(editor, current).then((attrs) => {
          if (attrs && attrs.src) { editor.chain().focus().setImage({ src: attrs.src.trim(), alt: attrs.alt || null }).run(); }
        });
      },
      active: (editor) => editor.isActive("image"),
    });
    // The picker is a page-level dialog (merge_picker.js); it inserts the code at the cursor.
    if (textarea && document.getElementById("merge-picker")) {
      menu.defineItem({
        name: "mergeField", groups: "merge",
        button: buttons.text(gettext("@ Champs d'intégration…"), gettext("Champs d'intégration…")),
        command() {
          document.dispatchEvent(new CustomEvent("merge-picker:open", { detail: { target: textarea.id } }));
        },
      });
    }
  },
});

const MENU_GROUPS = [
  { group: "blockType -lists", type: "dropdown", minItems: 2 },
  { group: "marks" },
  { group: "color", type: "dropdown" },
  { group: "background", type: "dropdown" },
  { group: "lists" },
  { group: "link" },
  { group: "image" },
  { group: "textAlign" },
  { group: "merge" },
  { group: "history" },
  { group: "utility" },
];

function createEditor(textarea) {
  if (textarea.closest(".prose-editor")) { return null; }
  const config = JSON.parse(textarea.getAttribute("data-rich-editor") || "{}");
  const editor = E.createTextareaEditor(textarea, [
    E.Document, E.Paragraph, E.Text, E.HardBreak, E.Dropcursor, E.Gapcursor, E.History,
    E.Menu.configure({ groups: MENU_GROUPS }),
    E.Bold, E.Italic, E.Underline, E.Strike, E.Subscript, E.Superscript,
    E.Heading.configure({ levels: [1, 2, 3, 4] }),
    E.BulletList, E.OrderedList, E.ListItem, E.Blockquote, E.HorizontalRule,
    Link.configure({ openOnClick: false, defaultProtocol: "https", enableTarget: true }),
    // Inline, as TinyMCE left them (a logo beside a line of text); pasted logos are data: URLs.
    E.Image.configure({ inline: true, allowBase64: true }),
    E.TextStyle, TextColor, BackgroundColor,
    E.TextAlign.configure({ types: ["paragraph", "heading"] }),
    E.Table, E.TableRow, E.TableHeader, E.TableCell,
    E.HTML,
    Additions.configure({ textarea }),
  ]);
  const area = editor.view.dom;  // (the toolbar's dropdowns have a .ProseMirror class too)
  {
    if (config.height) { area.style.minHeight = `${config.height}px`; }
    // The editing area is named by the field's label (without the required-field asterisk).
    const label = textarea.labels && textarea.labels.length ? textarea.labels[0].textContent.replace("*", "").trim() : "";
    area.setAttribute("aria-label", label || gettext("Message"));
  }
  for (const button of textarea.parentElement.querySelectorAll(".prose-menubar__button[data-name]")) {
    const title = TITLES[button.dataset.name];
    if (title) { button.title = title; button.setAttribute("aria-label", title); }
  }
  textarea.richEditor = editor;
  textarea.dispatchEvent(new CustomEvent("rich-editor:ready", { detail: { editor }, bubbles: true }));
  return editor;
}

E.initializeEditors(createEditor, "[data-rich-editor]");
