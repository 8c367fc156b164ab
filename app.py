"""The seller app: photos of one product in, an editable, exportable listing out.

    python app.py [--port 7860] [--host 127.0.0.1] [--memory LISTINGS]

the same app as ``listingsmith app``; the Gradio front end lives in ``listingsmith.ui``.
"""

from listingsmith.ui import main

if __name__ == "__main__":
    main()
